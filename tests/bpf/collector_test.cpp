// The collector against the real maps of the loaded XDP object (root): values
// written into the kernel maps come out as metrics; key counting at 1M keys is
// timed (printed, never asserted).
#include <gtest/gtest.h>

#include <bpf/bpf.h>
#include <arpa/inet.h>
#include <bpf/libbpf.h>

#include <chrono>
#include <thread>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "maps/map_scan.hpp"
#include "maps/maps.hpp"
#include "stats/collector.hpp"

// The skeleton's `struct ratelimit` would clash with namespace ratelimit.
namespace skel {
#include "ratelimit.skel.h"
}

namespace ratelimit {
namespace {

using prometheus::MetricFamily;
using Labels = std::map<std::string, std::string>;

struct SkelDeleter {
    void operator()(skel::ratelimit* s) const { skel::ratelimit__destroy(s); }
};
using Skel = std::unique_ptr<skel::ratelimit, SkelDeleter>;

Skel loadSkeleton() {
    Skel s(skel::ratelimit__open());
    if (!s) return nullptr;
    if (skel::ratelimit__load(s.get()) != 0) return nullptr;
    return s;
}

MapFds fdsOf(skel::ratelimit* s) {
    MapFds m;
    m.cfg = bpf_map__fd(s->maps.rl_cfg);
    m.rulemeta = bpf_map__fd(s->maps.rl_rulemeta);
    m.stats = bpf_map__fd(s->maps.rl_stats);
    m.gstats = bpf_map__fd(s->maps.rl_gstats);
    m.state4 = bpf_map__fd(s->maps.rl_state4);
    m.state6 = bpf_map__fd(s->maps.rl_state6);
    m.block4 = bpf_map__fd(s->maps.rl_block4);
    m.block6 = bpf_map__fd(s->maps.rl_block6);
    return m;
}

double sample(const std::vector<MetricFamily>& fs, const std::string& name, const Labels& want) {
    for (const auto& f : fs) {
        if (f.name != name) continue;
        for (const auto& m : f.metric) {
            Labels got;
            for (const auto& l : m.label) got[l.name] = l.value;
            if (got == want) return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
        }
    }
    ADD_FAILURE() << "no sample " << name;
    return -1;
}

// Scrapes until `name` appears: key counts are taken on a background thread.
std::vector<MetricFamily> collectUntil(const Collector& col, const std::string& name) {
    for (int i = 0; i < 200; i++) {
        auto fs = col.Collect();
        for (const auto& f : fs)
            if (f.name == name && !f.metric.empty()) return fs;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << name << " never appeared";
    return {};
}

uint64_t monoNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * RL_NSEC_PER_SEC + uint64_t(ts.tv_nsec);
}

rl_key4 key4(uint32_t i) {
    rl_key4 k{};
    k.addr = htonl(0xC6120000u + i);  // 198.18.0.0/15 and beyond: only a map key here
    k.rule_id = 3;
    k.tier = 0;
    k.prefix_len = 32;
    return k;
}

class CollectorMaps : public ::testing::Test {
protected:
    void SetUp() override {
        skel_ = loadSkeleton();
        ASSERT_TRUE(skel_) << "loading the ratelimit object failed (root? BPF support?)";
        maps_ = fdsOf(skel_.get());
        wrappers_ = std::make_unique<Maps>(maps_);
        cpus_ = libbpf_num_possible_cpus();
        ASSERT_GT(cpus_, 0);
    }
    Collector::Options options(std::shared_ptr<const PublishedState> state = {}) {
        Collector::Options o;
        o.maps = wrappers_.get();
        o.state = std::move(state);
        o.key_count_min_age = std::chrono::milliseconds(0);  // count at every scrape
        o.key_count_cost_factor = 0;
        return o;
    }
    Skel skel_;
    MapFds maps_;
    std::unique_ptr<Maps> wrappers_;
    int cpus_ = 0;
};

TEST_F(CollectorMaps, ExportsWhatTheMapsHold) {
    // rl_stats: rule 3 / rate; CPU c holds c+1 packets and 100*(c+1) bytes.
    uint32_t idx = 3 * RL_REASON__MAX + RL_REASON_DROP_RATE;
    std::vector<rl_counter> cells(cpus_);
    uint64_t want_pk = 0, want_by = 0;
    for (int c = 0; c < cpus_; c++) {
        cells[c] = {uint64_t(c + 1), uint64_t(100 * (c + 1))};
        want_pk += c + 1;
        want_by += 100 * (c + 1);
    }
    ASSERT_EQ(bpf_map_update_elem(maps_.stats, &idx, cells.data(), BPF_ANY), 0);

    rl_rule_meta meta{};
    std::strcpy(meta.name, "web");
    uint32_t rid = 3;
    ASSERT_EQ(bpf_map_update_elem(maps_.rulemeta, &rid, &meta, BPF_ANY), 0);
    rl_config cfg{};
    cfg.generation = 42;
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(maps_.cfg, &zero, &cfg, BPF_ANY), 0);

    // Keys: 1000 v4, 10 v6; 5 live and 3 expired blocks.
    const uint32_t n4 = 1000, n6 = 10;
    rl_state st{};
    for (uint32_t i = 0; i < n4; i++) {
        rl_key4 k = key4(i);
        ASSERT_EQ(bpf_map_update_elem(maps_.state4, &k, &st, BPF_NOEXIST), 0);
    }
    for (uint32_t i = 0; i < n6; i++) {
        rl_key6 k{};
        k.addr[0] = 0x20;
        k.addr[15] = uint8_t(i);
        k.prefix_len = 64;
        ASSERT_EQ(bpf_map_update_elem(maps_.state6, &k, &st, BPF_NOEXIST), 0);
    }
    uint64_t now = monoNs();
    for (uint32_t i = 0; i < 8; i++) {
        rl_key4 k = key4(i);
        rl_block b{i < 5 ? now + 3600 * RL_NSEC_PER_SEC : now - RL_NSEC_PER_SEC, now - 2 * RL_NSEC_PER_SEC};
        ASSERT_EQ(bpf_map_update_elem(maps_.block4, &k, &b, BPF_NOEXIST), 0);
    }
    // key_insert: as if the fast path had created 1500 keys, 490 of them gone since.
    std::vector<uint64_t> gcells(cpus_, 0);
    gcells[0] = 1500;
    uint32_t gi = RL_GC_KEY_INSERT;
    ASSERT_EQ(bpf_map_update_elem(maps_.gstats, &gi, gcells.data(), BPF_ANY), 0);

    auto state = std::make_shared<PublishedState>();
    state->publish({{"rl-no-such-if0", "native", 0}}, 0, 0);
    state->publish({{"rl-no-such-if0", "native", 0}}, 0, 1);  // a refused reload
    Collector col(options(state));
    auto fs = col.Collect();

    EXPECT_EQ(sample(fs, "ratelimit_packets_total", {{"rule", "web"}, {"reason", "rate"}, {"verdict", "drop"}}),
              double(want_pk));
    EXPECT_EQ(sample(fs, "ratelimit_bytes_total", {{"rule", "web"}, {"reason", "rate"}, {"verdict", "drop"}}),
              double(want_by));
    EXPECT_EQ(sample(fs, "ratelimit_packets_total", {{"rule", "web"}, {"reason", "pass"}, {"verdict", "pass"}}), 0);
    EXPECT_EQ(sample(fs, "ratelimit_keys_tracked", {{"family", "ipv4"}}), n4);
    EXPECT_EQ(sample(fs, "ratelimit_keys_tracked", {{"family", "ipv6"}}), n6);
    EXPECT_EQ(sample(fs, "ratelimit_keys_capacity", {{"family", "ipv4"}}),
              bpf_map__max_entries(skel_->maps.rl_state4));
    EXPECT_EQ(sample(fs, "ratelimit_keys_blocked", {{"family", "ipv4"}}), 5);
    EXPECT_EQ(sample(fs, "ratelimit_keys_blocked", {{"family", "ipv6"}}), 0);
    EXPECT_EQ(sample(fs, "ratelimit_key_inserts_total", {}), 1500);
    EXPECT_EQ(sample(fs, "ratelimit_key_evictions_total", {}), 1500 - n4 - n6);
    EXPECT_EQ(sample(fs, "ratelimit_config_generation", {}), 42);
    EXPECT_EQ(sample(fs, "ratelimit_config_reloads_total", {{"result", "failure"}}), 1);
    EXPECT_EQ(sample(fs, "ratelimit_config_last_reload_successful", {}), 0);
    EXPECT_EQ(sample(fs, "ratelimit_program_attached", {{"interface", "rl-no-such-if0"}, {"mode", "native"}}), 0);
    EXPECT_EQ(sample(fs, "ratelimit_scrape_errors_total", {}), 0);

    // Keys removed (as an LRU eviction would): the estimate grows, and never
    // falls back when tracked rises again without new inserts being counted.
    for (uint32_t i = 0; i < 100; i++) {
        rl_key4 k = key4(i);
        ASSERT_EQ(bpf_map_delete_elem(maps_.state4, &k), 0);
    }
    fs = col.Collect();
    EXPECT_EQ(sample(fs, "ratelimit_key_evictions_total", {}), 1500 - (n4 - 100) - n6);
    for (uint32_t i = 0; i < 100; i++) {
        rl_key4 k = key4(i);
        ASSERT_EQ(bpf_map_update_elem(maps_.state4, &k, &st, BPF_NOEXIST), 0);
    }
    fs = col.Collect();
    EXPECT_EQ(sample(fs, "ratelimit_key_evictions_total", {}), 1500 - (n4 - 100) - n6);
}

// A fresh count is reused (its age exported) until it is older than the minimum age.
TEST_F(CollectorMaps, KeyCountIsReusedWhileFresh) {
    rl_state st{};
    for (uint32_t i = 0; i < 50; i++) {
        rl_key4 k = key4(i);
        ASSERT_EQ(bpf_map_update_elem(maps_.state4, &k, &st, BPF_NOEXIST), 0);
    }
    Collector::Options o = options();
    o.key_count_min_age = std::chrono::hours(1);
    Collector col(o);
    auto fs = collectUntil(col, "ratelimit_keys_tracked");
    EXPECT_EQ(sample(fs, "ratelimit_keys_tracked", {{"family", "ipv4"}}), 50);
    for (uint32_t i = 50; i < 80; i++) {
        rl_key4 k = key4(i);
        ASSERT_EQ(bpf_map_update_elem(maps_.state4, &k, &st, BPF_NOEXIST), 0);
    }
    fs = col.Collect();
    EXPECT_EQ(sample(fs, "ratelimit_keys_tracked", {{"family", "ipv4"}}), 50);  // cached
    EXPECT_GT(sample(fs, "ratelimit_keys_tracked_age_seconds", {}), 0);
    Collector fresh(options());
    EXPECT_EQ(sample(fresh.Collect(), "ratelimit_keys_tracked", {{"family", "ipv4"}}), 80);
}

// Fills rl_state4 to its default capacity (RL_STATE_DEFAULT_ENTRIES) and times
// the two ways of counting, and a whole scrape. Printed for docs/metrics.md.
TEST_F(CollectorMaps, KeyCountAtCapacity) {
    const uint32_t cap = bpf_map__max_entries(skel_->maps.rl_state4);
    const uint32_t chunk = 65536;
    std::vector<rl_key4> keys(chunk);
    std::vector<rl_state> vals(chunk);
    for (uint32_t base = 0; base < cap; base += chunk) {
        uint32_t n = std::min(chunk, cap - base);
        for (uint32_t i = 0; i < n; i++) keys[i] = key4(base + i);
        uint32_t count = n;
        ASSERT_EQ(bpf_map_update_batch(maps_.state4, keys.data(), vals.data(), &count, nullptr), 0)
            << std::strerror(errno);
    }

    using clk = std::chrono::steady_clock;
    auto ms = [](clk::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    const int rounds = 3;
    double batch_ms = 0, next_ms = 0, scrape_ms = 0;
    uint64_t by_batch = 0, by_next = 0;
    Collector col(options());
    double tracked = -1;
    for (int r = 0; r < rounds; r++) {
        auto t0 = clk::now();
        auto b = countEntriesBatch(maps_.state4);
        auto t1 = clk::now();
        auto n = countEntriesNextKey(maps_.state4);
        auto t2 = clk::now();
        auto fs = col.Collect();
        auto t3 = clk::now();
        ASSERT_TRUE(b) << b.error().message();
        ASSERT_TRUE(n) << n.error().message();
        by_batch = *b;
        by_next = *n;
        tracked = sample(fs, "ratelimit_keys_tracked", {{"family", "ipv4"}});
        batch_ms += ms(t1 - t0);
        next_ms += ms(t2 - t1);
        scrape_ms += ms(t3 - t2);
    }
    // With the daemon's defaults the count runs in the background: no scrape
    // waits for it, and later scrapes serve it.
    Collector::Options cached_opts = options();
    cached_opts.key_count_min_age = kKeyCountMinAge;
    cached_opts.key_count_cost_factor = kKeyCountCostFactor;
    Collector cached(cached_opts);
    auto c0 = clk::now();
    cached.Collect();
    auto c1 = clk::now();
    auto again = collectUntil(cached, "ratelimit_keys_tracked");
    auto c2 = clk::now();
    again = cached.Collect();
    auto c3 = clk::now();
    EXPECT_EQ(sample(again, "ratelimit_keys_tracked", {{"family", "ipv4"}}), tracked);
    std::printf("[ key count ] daemon defaults: first scrape %.1f ms (starts the count), count ready after "
                "%.1f ms, next scrape %.1f ms\n", ms(c1 - c0), ms(c2 - c1), ms(c3 - c2));

    // The map is quiescent (program not attached): both walks see the same keys.
    EXPECT_EQ(by_batch, by_next);
    EXPECT_EQ(tracked, double(by_batch));
    EXPECT_LE(by_batch, cap);
    std::printf("[ key count ] capacity %u, keys present %llu (LRU may evict before full)\n", cap,
                (unsigned long long)by_batch);
    std::printf("[ key count ] BPF_MAP_LOOKUP_BATCH (%u/call): %.1f ms; BPF_MAP_GET_NEXT_KEY: %.1f ms; "
                "whole scrape: %.1f ms (mean of %d)\n",
                kBatchEntries, batch_ms / rounds, next_ms / rounds, scrape_ms / rounds, rounds);
    RecordProperty("keys", std::to_string(by_batch));
    RecordProperty("batch_ms", std::to_string(batch_ms / rounds));
    RecordProperty("next_key_ms", std::to_string(next_ms / rounds));
    RecordProperty("scrape_ms", std::to_string(scrape_ms / rounds));
}

}  // namespace
}  // namespace ratelimit
