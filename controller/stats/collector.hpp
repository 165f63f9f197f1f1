// Prometheus exporter: a prometheus-cpp Collectable that reads the BPF maps when
// scraped (no polling thread). Metric reference: docs/metrics.md.
//
// Collect() = read() (kernel: maps, bpf_xdp_query) + toFamilies() (pure, unit-
// tested). Scrapes are serialised by a mutex: two concurrent scrapes would only
// double the cost of counting keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "ratelimit/abi.h"
#include "stats/reload_stats.hpp"

namespace ratelimit {

// Map fds, owned by the loader, which must outlive the collector. -1 = absent
// (the metrics that need it are left out and counted as scrape errors).
struct StatsMaps {
    int cfg = -1;
    int rulemeta = -1;
    int stats = -1;
    int gstats = -1;
    int state4 = -1;
    int state6 = -1;
    int block4 = -1;
    int block6 = -1;
};

// An attachment the daemon made. Checked against the kernel at every scrape.
struct AttachmentInfo {
    std::string interface;   // resolved with if_nametoindex at scrape time
    std::string mode;        // "native" or "generic"
    uint32_t prog_id = 0;    // id the kernel shows on the interface; 0 = accept any program
};

struct AttachmentStatus {
    std::string interface;
    std::string mode;
    bool attached = false;
};

struct FamilyKeys {
    std::optional<uint64_t> tracked;
    std::optional<uint64_t> capacity;
    std::optional<uint64_t> blocked;
    std::optional<uint64_t> blocked_capacity;
};

// Everything one scrape read. Optional/empty = that read failed.
struct StatsSnapshot {
    std::vector<rl_counter> counters;          // RL_STATS_ENTRIES
    std::vector<uint64_t> gcounters;           // RL_GC__MAX
    std::optional<rl_config> cfg;
    std::vector<std::string> rule_names;       // RL_MAX_RULES; "" = free slot
    FamilyKeys v4, v6;
    std::optional<uint64_t> evictions;         // estimate, never decreasing
    std::vector<AttachmentStatus> attachments;
    std::optional<ReloadStats::Snapshot> reloads;
    uint64_t scrape_errors_total = 0;
};

// Pure: snapshot -> metric families (names, labels, values as in docs/metrics.md).
std::vector<prometheus::MetricFamily> toFamilies(const StatsSnapshot& s, double scrape_seconds);

// Label value of a rule slot: its name, "default" for an unnamed rule 0,
// "(none)" for RL_RULE_NONE, "#<id>" for an unnamed slot.
std::string ruleLabel(uint32_t rule_id, const std::vector<std::string>& names);

// "pass" or "drop" for a reason; malformed/state_full follow rl_cfg.
const char* verdictLabel(uint32_t reason, const rl_config* cfg);

class Collector : public prometheus::Collectable {
public:
    struct Options {
        StatsMaps maps;
        // Called on the HTTP server thread: must be thread-safe.
        std::function<std::vector<AttachmentInfo>()> attachments;
        std::shared_ptr<const ReloadStats> reloads;
        // Key counts older than this are recounted at the next scrape; 0 = every scrape.
        std::chrono::milliseconds key_count_max_age{0};
    };

    explicit Collector(Options opts);
    std::vector<prometheus::MetricFamily> Collect() const override;
    StatsSnapshot read() const;

private:
    struct KeyCounts {
        std::optional<uint64_t> tracked4, tracked6;
        std::optional<uint64_t> inserts;                  // key_insert counter when counted
        std::chrono::steady_clock::time_point at{};
        bool valid = false;
    };
    KeyCounts countKeys(uint64_t& errors, std::optional<uint64_t> inserts_now) const;

    Options opts_;
    mutable std::mutex mu_;
    mutable KeyCounts cached_;
    mutable uint64_t evictions_floor_ = 0;
    mutable uint64_t errors_total_ = 0;
};

}  // namespace ratelimit
