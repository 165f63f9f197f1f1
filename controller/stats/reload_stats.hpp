// Configuration load/reload bookkeeping: written by the daemon's reload path,
// read by the metrics collector. Thread-safe (reloads and scrapes run on
// different threads).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace ratelimit {

class ReloadStats {
public:
    struct Snapshot {
        uint64_t successes = 0;          // reloads applied (the start-up load is not a reload)
        uint64_t failures = 0;           // reloads refused
        bool last_ok = true;             // outcome of the last load or reload
        double last_success_unix_s = 0;  // wall time of the last applied load or reload
    };

    // The configuration applied at start-up.
    void recordInitialLoad() {
        std::lock_guard lock(mu_);
        s_.last_ok = true;
        s_.last_success_unix_s = nowUnix();
    }

    void recordReload(bool applied) {
        std::lock_guard lock(mu_);
        s_.last_ok = applied;
        if (applied) {
            s_.successes++;
            s_.last_success_unix_s = nowUnix();
        } else {
            s_.failures++;
        }
    }

    Snapshot snapshot() const {
        std::lock_guard lock(mu_);
        return s_;
    }

private:
    static double nowUnix() {
        using namespace std::chrono;
        return duration<double>(system_clock::now().time_since_epoch()).count();
    }

    mutable std::mutex mu_;
    Snapshot s_;
};

}  // namespace ratelimit
