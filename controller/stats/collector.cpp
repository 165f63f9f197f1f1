#include "stats/collector.hpp"

#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <iterator>
#include <map>
#include <string_view>
#include <utility>

#include "maps/map_scan.hpp"
#include "maps/maps.hpp"

#ifndef RL_VERSION
#define RL_VERSION "unknown"
#endif

namespace ratelimit {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// ---- name tables: one entry per enum value, checked at compile time ----------
constexpr const char* kReasonNames[] = RL_REASON_NAMES;
static_assert(std::size(kReasonNames) == RL_REASON__MAX, "RL_REASON_NAMES must name every rl_reason");
constexpr const char* kGCounterNames[] = RL_GCOUNTER_NAMES;
static_assert(std::size(kGCounterNames) == RL_GC__MAX, "RL_GCOUNTER_NAMES must name every rl_gcounter");

constexpr bool sameName(const char* a, const char* b) { return std::string_view(a) == std::string_view(b); }

enum class Verdict { Pass, Drop, Malformed, StateFull };
// Verdict implied by each reason (docs/metrics.md); malformed and state_full follow rl_cfg.
// Each row names its reason so that a reordered enum fails to compile.
struct ReasonVerdict {
    const char* reason;
    Verdict verdict;
};
constexpr ReasonVerdict kReasonVerdicts[] = {
    {"pass", Verdict::Pass},           {"allow", Verdict::Pass},
    {"rate", Verdict::Drop},           {"deny", Verdict::Drop},
    {"blocked", Verdict::Drop},        {"global", Verdict::Drop},
    {"shadow_rate", Verdict::Pass},    {"shadow_global", Verdict::Pass},
    {"malformed", Verdict::Malformed}, {"non_ip", Verdict::Pass},
    {"state_full", Verdict::StateFull}, {"override_block", Verdict::Drop},
    {"unknown", Verdict::Drop},        {"shadow_unknown", Verdict::Pass},
};
static_assert(std::size(kReasonVerdicts) == RL_REASON__MAX, "kReasonVerdicts must cover every rl_reason");
constexpr bool reasonVerdictsMatchNames() {
    for (size_t i = 0; i < RL_REASON__MAX; i++)
        if (!sameName(kReasonVerdicts[i].reason, kReasonNames[i])) return false;
    return true;
}
static_assert(reasonVerdictsMatchNames(), "kReasonVerdicts rows must follow RL_REASON_NAMES order");

// Global counters -> metric family and optional label (events share one family).
struct GCounterMetric {
    const char* counter;  // RL_GCOUNTER_NAMES entry this row exports
    const char* family;
    const char* help;     // first row of a family only
    const char* label;    // nullptr: no label
    const char* value;
};
constexpr GCounterMetric kGCounterMetrics[] = {
    {"key_insert", "ratelimit_key_inserts_total", "New key states created by the XDP program.", nullptr, nullptr},
    {"key_insert_fail", "ratelimit_key_insert_failures_total",
     "Key state inserts that failed; those packets got reason state_full.", nullptr, nullptr},
    {"block_insert", "ratelimit_block_inserts_total", "Penalty-box entries created.", nullptr, nullptr},
    {"block_insert_fail", "ratelimit_block_insert_failures_total", "Penalty-box inserts that failed.", nullptr,
     nullptr},
    {"event_sent", "ratelimit_events_total",
     "Limit/block events by outcome: sent, lost (ring buffer full), suppressed (event rate limiter).", "outcome",
     "sent"},
    {"event_lost", "ratelimit_events_total", nullptr, "outcome", "lost"},
    {"event_suppressed", "ratelimit_events_total", nullptr, "outcome", "suppressed"},
    {"cas_exhausted", "ratelimit_cas_exhausted_total",
     "Meter updates that ran out of compare-and-swap retries and were treated as non-conforming.", nullptr, nullptr},
    {"admit_refused", "ratelimit_admissions_refused_total",
     "New sources refused their own state by a rule's admit meter (charged to its unknown meter).", nullptr,
     nullptr},
    {"key_insert_empty", "ratelimit_key_inserts_empty_total",
     "Of ratelimit_key_inserts_total: keys that started empty because the admit meter was under pressure.",
     nullptr, nullptr},
    {"dcache_hit", "ratelimit_refusal_cache_hits_total",
     "Packets refused (or shadow-passed) from the per-CPU refusal cache, without state lookup or meter; "
     "also counted under their rule and reason.",
     nullptr, nullptr},
};
static_assert(std::size(kGCounterMetrics) == RL_GC__MAX, "kGCounterMetrics must cover every rl_gcounter");
constexpr bool gcounterMetricsMatchNames() {
    for (size_t i = 0; i < RL_GC__MAX; i++)
        if (!sameName(kGCounterMetrics[i].counter, kGCounterNames[i])) return false;
    return true;
}
static_assert(gcounterMetricsMatchNames(), "kGCounterMetrics rows must follow RL_GCOUNTER_NAMES order");

struct FamilyName {
    const char* label;
    FamilyKeys StatsSnapshot::*keys;
};
constexpr FamilyName kFamilies[] = {{"ipv4", &StatsSnapshot::v4}, {"ipv6", &StatsSnapshot::v6}};

constexpr const char* kNoRuleLabel = "(none)";

// ---- building families ------------------------------------------------------
MetricFamily family(const char* name, const char* help, MetricType type) {
    MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    return f;
}

void add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter)
        m.counter.value = value;
    else
        m.gauge.value = value;
    f.metric.push_back(std::move(m));
}

uint64_t monotonicNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);  // the clock of bpf_ktime_get_ns()
    return uint64_t(ts.tv_sec) * RL_NSEC_PER_SEC + uint64_t(ts.tv_nsec);
}

std::optional<uint64_t> countBlocked(int fd, uint64_t now_ns, uint64_t& errors) {
    if (fd < 0) return std::nullopt;
    auto n = countEntriesBatch(fd, [now_ns](const void* v) {
        rl_block b;
        std::memcpy(&b, v, sizeof(b));
        return b.until_ns > now_ns;
    });
    if (!n) {
        errors++;
        return std::nullopt;
    }
    return *n;
}

// The kernel's view of an attachment, by name: a deleted and re-created
// interface, or another program in our place, reads as detached.
bool isAttached(const AttachmentInfo& a) {
    unsigned ifindex = if_nametoindex(a.interface.c_str());
    if (ifindex == 0) return false;
    bpf_xdp_query_opts q{};
    q.sz = sizeof(q);
    if (bpf_xdp_query(int(ifindex), 0, &q) < 0) return false;
    uint32_t id = a.mode == "generic" ? q.skb_prog_id : q.drv_prog_id;
    if (q.attach_mode != XDP_ATTACHED_MULTI && id == 0) id = q.prog_id;
    return id != 0 && (a.prog_id == 0 || id == a.prog_id);
}

}  // namespace

std::string ruleLabel(uint32_t rule_id, const std::vector<std::string>& names) {
    if (rule_id == RL_RULE_NONE) return kNoRuleLabel;
    if (rule_id < names.size() && !names[rule_id].empty()) return names[rule_id];
    if (rule_id == RL_RULE_DEFAULT) return "default";
    return "#" + std::to_string(rule_id);
}

const char* verdictLabel(uint32_t reason, const rl_config* cfg) {
    if (reason >= RL_REASON__MAX) return "pass";
    switch (kReasonVerdicts[reason].verdict) {
    case Verdict::Pass:
        return "pass";
    case Verdict::Drop:
        return "drop";
    case Verdict::Malformed:  // default RL_VERDICT_DROP, as in config.hpp
        return (!cfg || cfg->malformed_verdict == RL_VERDICT_DROP) ? "drop" : "pass";
    case Verdict::StateFull:  // default RL_VERDICT_PASS
        return (cfg && cfg->state_full_verdict == RL_VERDICT_DROP) ? "drop" : "pass";
    }
    return "pass";
}

std::vector<MetricFamily> toFamilies(const StatsSnapshot& s, double scrape_seconds) {
    std::vector<MetricFamily> out;
    const rl_config* cfg = s.cfg ? &*s.cfg : nullptr;

    if (s.counters.size() == RL_STATS_ENTRIES) {
        auto pk = family("ratelimit_packets_total", "Packets seen by the XDP program, by rule, reason and verdict.",
                         MetricType::Counter);
        auto by = family("ratelimit_bytes_total",
                         "Bytes of those packets (IP packet, or frame with l2_bytes), by rule, reason and verdict.",
                         MetricType::Counter);
        for (uint32_t rule = 0; rule <= RL_RULE_NONE; rule++) {
            // Named rules and the no-rule slot export every reason (zeros too) so
            // that rate() works from the first scrape; stale slots only what they hold.
            bool named = rule == RL_RULE_NONE || rule == RL_RULE_DEFAULT ||
                         (rule < s.rule_names.size() && !s.rule_names[rule].empty());
            std::string label = ruleLabel(rule, s.rule_names);
            for (uint32_t reason = 0; reason < RL_REASON__MAX; reason++) {
                const rl_counter& c = s.counters[size_t{rule} * RL_REASON__MAX + reason];
                if (!named && c.packets == 0 && c.bytes == 0) continue;
                std::vector<ClientMetric::Label> labels = {
                    {"rule", label}, {"reason", kReasonNames[reason]}, {"verdict", verdictLabel(reason, cfg)}};
                add(pk, double(c.packets), labels);
                add(by, double(c.bytes), std::move(labels));
            }
        }
        out.push_back(std::move(pk));
        out.push_back(std::move(by));
    }

    auto gauge_by_family = [&](const char* name, const char* help, std::optional<uint64_t> FamilyKeys::*field) {
        auto f = family(name, help, MetricType::Gauge);
        for (const auto& fam : kFamilies) {
            const auto& v = (s.*fam.keys).*field;
            if (v) add(f, double(*v), {{"family", fam.label}});
        }
        if (!f.metric.empty()) out.push_back(std::move(f));
    };
    gauge_by_family("ratelimit_keys_tracked", "Entries in the LRU key state map (one per key and tier).",
                    &FamilyKeys::tracked);
    gauge_by_family("ratelimit_keys_capacity", "max_entries of the key state map.", &FamilyKeys::capacity);
    gauge_by_family("ratelimit_keys_blocked", "Penalty-box entries that have not yet expired.",
                    &FamilyKeys::blocked);
    gauge_by_family("ratelimit_keys_blocked_capacity", "max_entries of the penalty-box map.",
                    &FamilyKeys::blocked_capacity);

    if (s.keys_age_seconds) {
        auto f = family("ratelimit_keys_tracked_age_seconds",
                        "Age of the ratelimit_keys_tracked count (reused between scrapes when counting is expensive).",
                        MetricType::Gauge);
        add(f, *s.keys_age_seconds);
        out.push_back(std::move(f));
    }

    if (s.gcounters.size() == RL_GC__MAX) {
        std::map<std::string, size_t> index;  // family name -> position in out
        for (uint32_t i = 0; i < RL_GC__MAX; i++) {
            const GCounterMetric& g = kGCounterMetrics[i];
            auto [it, fresh] = index.try_emplace(g.family, out.size());
            if (fresh) out.push_back(family(g.family, g.help, MetricType::Counter));
            std::vector<ClientMetric::Label> labels;
            if (g.label) labels.push_back({g.label, g.value});
            add(out[it->second], double(s.gcounters[i]), std::move(labels));
        }
    }
    if (s.evictions) {
        auto f = family("ratelimit_key_evictions_total",
                        "Estimate: key_inserts_total - keys_tracked (keys that left the state tables, "
                        "LRU evictions and deletions by the daemon).",
                        MetricType::Counter);
        add(f, double(*s.evictions));
        out.push_back(std::move(f));
    }

    {
        auto f = family("ratelimit_program_attached",
                        "1 if the kernel shows the ratelimit XDP program on the interface, checked at scrape time.",
                        MetricType::Gauge);
        for (const auto& a : s.attachments)
            add(f, a.attached ? 1 : 0, {{"interface", a.interface}, {"mode", a.mode}});
        if (!f.metric.empty()) out.push_back(std::move(f));
    }

    if (cfg) {
        auto f = family("ratelimit_config_generation", "Configuration generation in rl_cfg.", MetricType::Gauge);
        add(f, double(cfg->generation));
        out.push_back(std::move(f));
    }
    if (s.reloads) {
        auto f = family("ratelimit_config_reloads_total", "Configuration reloads by result.", MetricType::Counter);
        add(f, double(s.reloads->successes), {{"result", "success"}});
        add(f, double(s.reloads->failures), {{"result", "failure"}});
        out.push_back(std::move(f));
        auto ok = family("ratelimit_config_last_reload_successful",
                         "1 if the last configuration load or reload was applied.", MetricType::Gauge);
        add(ok, s.reloads->last_ok ? 1 : 0);
        out.push_back(std::move(ok));
        auto ts = family("ratelimit_config_last_reload_timestamp_seconds",
                         "Unix time of the last applied configuration load or reload.", MetricType::Gauge);
        add(ts, s.reloads->last_success_unix_s);
        out.push_back(std::move(ts));
    }

    if (s.known) {
        auto b = family("ratelimit_known_filter_built",
                        "1 once the known-key filter is built and used by the fast path.", MetricType::Gauge);
        add(b, s.known->built ? 1 : 0);
        out.push_back(std::move(b));
        auto n = family("ratelimit_known_filter_builds_total",
                        "Known-key filter builds from the state tables (start-up and rebuilds).", MetricType::Counter);
        add(n, double(s.known->builds));
        out.push_back(std::move(n));
        auto k = family("ratelimit_known_filter_build_keys", "State keys the last known-key filter build walked.",
                        MetricType::Gauge);
        add(k, double(s.known->keys));
        out.push_back(std::move(k));
        auto f = family("ratelimit_known_filter_fill_ratio",
                        "Fraction of the known-key filter's bits set (its false-positive rate for new keys).",
                        MetricType::Gauge);
        add(f, s.known->fill);
        out.push_back(std::move(f));
    }
    {
        auto f = family("ratelimit_build_info", "Daemon version and BPF ABI version; always 1.", MetricType::Gauge);
        add(f, 1, {{"version", RL_VERSION}, {"abi", std::to_string(RL_ABI_VERSION)}});
        out.push_back(std::move(f));
    }
    {
        auto f = family("ratelimit_scrape_errors_total", "Map reads that failed during collections.",
                        MetricType::Counter);
        add(f, double(s.scrape_errors_total));
        out.push_back(std::move(f));
    }
    {
        auto f = family("ratelimit_scrape_duration_seconds", "Time this collection took (map reads, key counting).",
                        MetricType::Gauge);
        add(f, scrape_seconds);
        out.push_back(std::move(f));
    }
    return out;
}

Collector::Collector(Options opts) : opts_(std::move(opts)) {}

Collector::~Collector() {
    if (counter_.joinable()) counter_.join();
}

// Walks the maps; runs without mu_ held (on the counting thread).
Collector::KeyCounts Collector::countNow(std::optional<uint64_t> inserts_now) const {
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    uint64_t errors = 0;
    KeyCounts k;
    k.inserts = inserts_now;
    auto keep = [&](Result<uint64_t> n) -> std::optional<uint64_t> {
        if (!n) {
            errors++;
            return std::nullopt;
        }
        return *n;
    };
    const MapFds& fds = opts_.maps->fds();
    k.tracked4 = keep(opts_.maps->countState4());
    k.tracked6 = keep(opts_.maps->countState6());
    uint64_t now_ns = monotonicNs();
    k.blocked4 = countBlocked(fds.block4, now_ns, errors);
    k.blocked6 = countBlocked(fds.block6, now_ns, errors);
    k.at = start;
    k.took = clock::now() - start;
    k.valid = errors == 0;  // retry a failed count at the next scrape
    return k;
}

Collector::KeyCounts Collector::keyCounts(std::optional<uint64_t> inserts_now) const {
    using clock = std::chrono::steady_clock;
    auto now = clock::now();
    if (cached_.valid) {
        auto reuse_for = std::max<clock::duration>(opts_.key_count_min_age,
                                                   cached_.took * opts_.key_count_cost_factor);
        if (now - cached_.at < reuse_for) return cached_;
    }
    if (opts_.key_count_min_age.count() == 0 && opts_.key_count_cost_factor == 0) {
        KeyCounts k = countNow(inserts_now);  // tests: every scrape counts
        if (!k.valid) count_errors_++;
        cached_ = k;
        return k;
    }
    if (!counting_) {
        if (counter_.joinable()) counter_.join();
        counting_ = true;
        counter_ = std::thread([this, inserts_now] {
            KeyCounts k = countNow(inserts_now);
            std::lock_guard lock(mu_);
            if (k.valid || !cached_.valid) cached_ = k;
            if (!k.valid) count_errors_++;
            counting_ = false;
        });
    }
    return cached_;
}

StatsSnapshot Collector::read() const {
    std::lock_guard lock(mu_);
    StatsSnapshot s;
    uint64_t errors = 0;
    if (opts_.maps) {
        const Maps& m = *opts_.maps;
        const MapFds& fds = m.fds();
        if (auto c = m.readConfig()) s.cfg = *c; else errors++;
        if (auto meta = m.readRuleMeta()) {
            s.rule_names.reserve(meta->size());
            for (const auto& r : *meta) s.rule_names.emplace_back(r.name, strnlen(r.name, sizeof(r.name)));
        } else {
            errors++;
        }
        if (auto c = m.readStats()) s.counters = std::move(*c); else errors++;
        if (auto g = m.readGlobalCounters()) s.gcounters = std::move(*g); else errors++;

        std::optional<uint64_t> inserts;
        if (s.gcounters.size() == RL_GC__MAX) inserts = s.gcounters[RL_GC_KEY_INSERT];
        KeyCounts k = keyCounts(inserts);
        errors += count_errors_;
        count_errors_ = 0;
        s.v4.tracked = k.tracked4;
        s.v6.tracked = k.tracked6;
        s.v4.blocked = k.blocked4;
        s.v6.blocked = k.blocked6;
        if (k.at != std::chrono::steady_clock::time_point{})
            s.keys_age_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - k.at).count();
        auto cap = [&](int fd) -> std::optional<uint64_t> {
            uint32_t c = m.capacity(fd);  // 0 = the info query failed
            if (c == 0) {
                errors++;
                return std::nullopt;
            }
            return c;
        };
        s.v4.capacity = cap(fds.state4);
        s.v6.capacity = cap(fds.state6);
        s.v4.blocked_capacity = cap(fds.block4);
        s.v6.blocked_capacity = cap(fds.block6);

        // Inserts minus what is still tracked, both read at count time. A counter
        // must not go down: jitter from the race with the fast path is absorbed
        // by the floor.
        if (k.inserts && k.tracked4 && k.tracked6) {
            uint64_t tracked = *k.tracked4 + *k.tracked6;
            uint64_t est = *k.inserts > tracked ? *k.inserts - tracked : 0;
            evictions_floor_ = std::max(evictions_floor_, est);
            s.evictions = evictions_floor_;
        }
    }

    if (opts_.state && opts_.state->published()) {
        for (const auto& a : opts_.state->attachments())
            s.attachments.push_back({a.interface, a.mode, isAttached(a)});
        s.reloads = opts_.state->reloads();
        s.known = opts_.state->known();
    }

    errors_total_ += errors;
    s.scrape_errors_total = errors_total_;
    return s;
}

std::vector<MetricFamily> Collector::Collect() const {
    auto start = std::chrono::steady_clock::now();
    StatsSnapshot s = read();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return toFamilies(s, secs);
}

}  // namespace ratelimit
