// HTTP endpoint for Prometheus (prometheus-cpp Exposer, pull model) serving a
// Collectable at /metrics. Owns the listening socket and its threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include "util/result.hpp"

namespace ratelimit {

class MetricsServer {
public:
    // `listen` is "host:port" ("127.0.0.1:9477", "[::1]:9477"); port 0 picks a free
    // port (see port()). The collectable is held until the server is destroyed.
    static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen,
                                                        std::shared_ptr<prometheus::Collectable> collectable);
    uint16_t port() const { return port_; }

    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

private:
    MetricsServer() = default;
    std::shared_ptr<prometheus::Collectable> collectable_;  // destroyed after exposer_
    std::unique_ptr<prometheus::Exposer> exposer_;
    uint16_t port_ = 0;
};

}  // namespace ratelimit
