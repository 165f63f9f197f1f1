// What the daemon publishes for the metrics collector: the attachments it made,
// its reload counters and the known-key filter's state. Written on the daemon's event loop (Daemon::
// notifyStatus, which runs after start-up, every reload, attach and detach),
// read on the HTTP server thread at scrape time; hence the mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace ratelimit {

// An attachment the daemon made. The collector checks it against the kernel at
// every scrape (bpf_xdp_query by interface name).
struct AttachmentInfo {
    std::string interface;
    std::string mode;        // "native" | "generic": the mode it was attached in
    uint32_t prog_id = 0;    // our program's id; 0 = accept any program
};

struct ReloadSnapshot {
    uint64_t successes = 0;          // reloads applied (the start-up load is not a reload)
    uint64_t failures = 0;           // reloads refused
    bool last_ok = true;             // outcome of the last load or reload
    double last_success_unix_s = 0;  // wall time of the last applied load or reload
};

// The known-key filter (abi.h "Known-key filter"), as its builder thread last saw it.
struct KnownSnapshot {
    bool built = false;
    uint64_t builds = 0;      // builds and rebuilds since the daemon started
    uint64_t keys = 0;        // keys the last build walked
    double fill = 0;          // set bits / bits of the active half, now
};

class PublishedState {
public:
    // `reloads_ok`/`reloads_failed` are the daemon's running totals. The first
    // call stands for the start-up load; afterwards whichever total grew tells
    // the outcome of the reload that happened since the previous call.
    void publish(std::vector<AttachmentInfo> attachments, uint64_t reloads_ok, uint64_t reloads_failed) {
        std::lock_guard lock(mu_);
        attachments_ = std::move(attachments);
        if (!published_) {
            r_.last_ok = true;
            r_.last_success_unix_s = nowUnix();
        } else if (reloads_failed > r_.failures) {
            r_.last_ok = false;
        } else if (reloads_ok > r_.successes) {
            r_.last_ok = true;
            r_.last_success_unix_s = nowUnix();
        }
        r_.successes = reloads_ok;
        r_.failures = reloads_failed;
        published_ = true;
    }

    bool published() const {
        std::lock_guard lock(mu_);
        return published_;
    }
    std::vector<AttachmentInfo> attachments() const {
        std::lock_guard lock(mu_);
        return attachments_;
    }
    ReloadSnapshot reloads() const {
        std::lock_guard lock(mu_);
        return r_;
    }
    void publishKnown(const KnownSnapshot& k) {
        std::lock_guard lock(mu_);
        known_ = k;
    }
    KnownSnapshot known() const {
        std::lock_guard lock(mu_);
        return known_;
    }

private:
    static double nowUnix() {
        using namespace std::chrono;
        return duration<double>(system_clock::now().time_since_epoch()).count();
    }

    mutable std::mutex mu_;
    bool published_ = false;
    std::vector<AttachmentInfo> attachments_;
    ReloadSnapshot r_;
    KnownSnapshot known_;
};

}  // namespace ratelimit
