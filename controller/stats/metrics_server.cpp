#include "stats/metrics_server.hpp"

#include <exception>

namespace ratelimit {

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            std::shared_ptr<prometheus::Collectable> collectable) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon + 1 == listen.size())
        return invalid("metrics_listen", "expected host:port, got \"" + listen + "\"");
    // civetweb syntax: "port" = every IPv4 address, "127.0.0.1:port", "[::1]:port".
    std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
    std::string civet = host.empty() ? port : (host == "localhost" ? "127.0.0.1" : host) + ":" + port;
    std::unique_ptr<MetricsServer> s(new MetricsServer());
    try {
        // One worker thread: scrapes are serialised by the collector anyway.
        s->exposer_ = std::make_unique<prometheus::Exposer>(civet, 1);
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
