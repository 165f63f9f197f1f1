#include "stats/metrics_server.hpp"

#include <exception>

namespace ratelimit {

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            std::shared_ptr<prometheus::Collectable> collectable) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
        return invalid("metrics_listen", "expected host:port, got \"" + listen + "\"");
    std::unique_ptr<MetricsServer> s(new MetricsServer());
    try {
        // One worker thread: scrapes are serialised by the collector anyway.
        s->exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
    } catch (const std::exception& e) {  // civetweb throws when it cannot bind
        return Error{EADDRNOTAVAIL, "listen " + listen, e.what()};
    }
    s->collectable_ = std::move(collectable);
    s->exposer_->RegisterCollectable(s->collectable_);
    auto ports = s->exposer_->GetListeningPorts();
    if (ports.empty()) return invalid("listen " + listen, "no listening port");
    s->port_ = uint16_t(ports.front());
    return s;
}

}  // namespace ratelimit
