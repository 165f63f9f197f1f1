// ratelimitd: loads the XDP rate limiter, owns its configuration and serves
// the control socket. All logic lives in app/ (Daemon).
#include <exception>
#include <cstdio>

#include "app/daemon.hpp"

int main(int argc, char** argv) {
    try {
        int code = 0;
        auto args = ratelimit::parseDaemonArgs(argc, argv, &code);
        if (!args) return code;
        if (args->check_config) return ratelimit::checkConfigFile(*args->check_config);
        return ratelimit::runDaemon(*args);
    } catch (const std::exception& e) {
        fprintf(stderr, "ratelimitd: fatal: %s\n", e.what());
        return 1;
    }
}
