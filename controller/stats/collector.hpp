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
#include <thread>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "ratelimit/abi.h"
#include "stats/published_state.hpp"

namespace ratelimit {

class Maps;

// Counting tracked and blocked keys walks the LRU maps (about 1 s per million
// keys on a busy 2-core machine, docs/metrics.md), so it never runs on the
// scrape path: a scrape that finds the count older than
// max(key_count_min_age, kKeyCountCostFactor * the time it took) starts a
// background recount and serves the previous value. Counting uses at most
// 1/kKeyCountCostFactor of one CPU whatever the scrape interval;
// ratelimit_keys_tracked_age_seconds says how old the value is. Until the
// first count completes the key gauges are left out.
inline constexpr std::chrono::milliseconds kKeyCountMinAge{5000};
inline constexpr int kKeyCountCostFactor = 20;

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
    std::optional<double> keys_age_seconds;    // age of the tracked-key count
    std::vector<AttachmentStatus> attachments;
    std::optional<ReloadSnapshot> reloads;
    std::optional<KnownSnapshot> known;
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
        // Typed map wrappers (const methods only: safe from the HTTP thread).
        // Must outlive the collector, i.e. the MetricsServer serving it.
        const Maps* maps = nullptr;
        // Attachments and reload counters; absent or not yet published: those
        // metrics are left out.
        std::shared_ptr<const PublishedState> state;
        // Reuse key counts younger than this (see kKeyCountCostFactor); 0 and a
        // cost factor of 0 = count at every scrape, synchronously (tests).
        std::chrono::milliseconds key_count_min_age = kKeyCountMinAge;
        int key_count_cost_factor = kKeyCountCostFactor;
    };

    explicit Collector(Options opts);
    ~Collector() override;
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;
    std::vector<prometheus::MetricFamily> Collect() const override;
    StatsSnapshot read() const;

private:
    struct KeyCounts {
        std::optional<uint64_t> tracked4, tracked6, blocked4, blocked6;
        std::optional<uint64_t> inserts;                  // key_insert counter when counted
        std::chrono::steady_clock::time_point at{};
        std::chrono::steady_clock::duration took{};
        bool valid = false;
    };
    // Cached counts; starts a background recount when they are stale.
    KeyCounts keyCounts(std::optional<uint64_t> inserts_now) const;
    KeyCounts countNow(std::optional<uint64_t> inserts_now) const;

    Options opts_;
    mutable std::mutex mu_;
    mutable KeyCounts cached_;
    mutable uint64_t evictions_floor_ = 0;
    mutable uint64_t errors_total_ = 0;
    mutable uint64_t count_errors_ = 0;        // failed background counts, under mu_
    mutable bool counting_ = false;            // a background count runs, under mu_
    mutable std::thread counter_;              // joined before the next one and in ~Collector
};

}  // namespace ratelimit
