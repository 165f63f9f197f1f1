// The refusal cache (rl_dcache, abi.h) through the real program: a refused
// source is refused again from the cache with the same rule, reason and counts
// as the meter would give; it lets the source through again once its meter is
// ready; a new configuration generation, protocol/port narrowing and override
// blocks are honoured; RL_CFG_F_NO_DCACHE turns it off.
#include <linux/bpf.h>
#include <netinet/in.h>

#include <chrono>
#include <thread>
#include <vector>

#include "bpf/support/xdp_fixture.hpp"

namespace ratelimit::test {
namespace {


rl_meter perHour(uint64_t burst) { return gcraPerHour(1, burst); }

class RefusalCache : public XdpFixture {
protected:
    void cacheOff() {
        rl_config c = defaultConfig();
        c.flags |= RL_CFG_F_NO_DCACHE;
        setConfig(c);
    }
};

// With and without the cache: the same verdicts and counters; only the hit
// counter tells them apart (every refusal after the first comes from it).
TEST_F(RefusalCache, SameVerdictsAndCountsAsTheMeter) {
    for (bool on : {true, false}) {
        SCOPED_TRACE(on ? "cache on" : "cache off");
        SetUp();
        if (!on) cacheOff();
        setRule(RL_RULE_DEFAULT, limitRule({tier(perHour(3), 32, 128)}));
        auto before = counters();
        EXPECT_EQ(passes(udp4("198.18.7.1"), 10), 3);
        EXPECT_EQ(passes(udp6("2001:db8:7::1"), 10), 3);
        auto d = counters() - before;
        EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_PASS), 6u);
        EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_DROP_RATE), 14u);
        EXPECT_EQ(d.bytes(RL_RULE_DEFAULT, RL_REASON_DROP_RATE),
                  7u * (udp4("198.18.7.1").size() - 14) + 7u * (udp6("2001:db8:7::1").size() - 14));
        EXPECT_EQ(d.g(RL_GC_DCACHE_HIT), on ? 12u : 0u);
    }
}

// A refusal that ends within RL_COARSE_LAG_NS needs the precise clock: once a
// CPU met one it reads that clock first (RL_DCS_F_PRECISE, one helper call
// less); a refusal ending later switches it back to bounds from jiffies (no
// helper call). Both ways the source is refused from the cache.
TEST_F(RefusalCache, ShortRefusalsReadThePreciseClockFirst) {
    PinToCpu pin(0);
    setLpm4("198.18.20.0/24", matchSet({match(1)}));
    setRule(1, limitRule({tier(tbPackets(100, 1), 32, 128)}));  // refused for <= 10 ms
    setRule(RL_RULE_DEFAULT, limitRule({tier(perHour(1), 32, 128)}));
    EXPECT_FALSE(dcacheSummary(0).flags & RL_DCS_F_PRECISE);

    // a refusal caches the source for <= 10 ms; its next packet matches an
    // entry that ends (or ended) within the lag
    for (int i = 0; i < 100 && !(dcacheSummary(0).flags & RL_DCS_F_PRECISE); i++) run(udp4("198.18.20.1"));
    EXPECT_TRUE(dcacheSummary(0).flags & RL_DCS_F_PRECISE);

    EXPECT_EQ(run(udp4("198.18.7.9")), XDP_PASS);
    EXPECT_EQ(run(udp4("198.18.7.9")), XDP_DROP);  // cached for an hour
    auto before = counters();
    EXPECT_EQ(run(udp4("198.18.7.9")), XDP_DROP);  // a hit, read with the precise clock
    EXPECT_FALSE(dcacheSummary(0).flags & RL_DCS_F_PRECISE);
    EXPECT_EQ(run(udp4("198.18.7.9")), XDP_DROP);  // a hit, no clock read (jiffies bounds)
    auto d = counters() - before;
    rl_dcache sum = dcacheSummary(0);
    EXPECT_GT(sum.generation, 0u) << "ns per jiffy (CONFIG_HZ) unknown: the jiffies bounds are off";
    EXPECT_GT(sum.addr[1], 0u) << "no jiffies next to the last precise reading";
    EXPECT_EQ(d.g(RL_GC_DCACHE_HIT), 2u);
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_DROP_RATE), 2u);
}

// Shadow mode: cached refusals pass and count as shadow_rate.
TEST_F(RefusalCache, MonitorRulesPassFromTheCache) {
    setRule(RL_RULE_DEFAULT, limitRule({tier(perHour(1), 32, 128)}, RL_EXCEED_MONITOR));
    auto before = counters();
    EXPECT_EQ(passes(udp4("198.18.7.2"), 5), 5);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_PASS), 1u);
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_SHADOW_RATE), 4u);
    EXPECT_EQ(d.g(RL_GC_DCACHE_HIT), 3u);
}

// Other sources, even in the same /24 key of a second tier, are judged by the
// meter: the cache is keyed by the exact source.
TEST_F(RefusalCache, OtherSourcesAreNotAffected) {
    setRule(RL_RULE_DEFAULT, limitRule({tier(perHour(1), 32, 128), tier(perHour(100), 24, 64)}));
    EXPECT_EQ(passes(udp4("198.18.8.1"), 5), 1);
    EXPECT_EQ(passes(udp4("198.18.8.2"), 5), 1);
    EXPECT_EQ(passes(udp4("198.18.9.1"), 1), 1);
}

// A new configuration generation invalidates every entry at once.
TEST_F(RefusalCache, NewGenerationForgetsRefusals) {
    setRule(RL_RULE_DEFAULT, limitRule({tier(perHour(1), 32, 128)}));
    EXPECT_EQ(passes(udp4("198.18.7.3"), 3), 1);
    setRule(RL_RULE_DEFAULT, actionRule(RL_ACT_ALLOW));  // bumps the generation
    auto before = counters();
    EXPECT_EQ(run(udp4("198.18.7.3")), XDP_PASS);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_ALLOW), 1u);
    EXPECT_EQ(d.g(RL_GC_DCACHE_HIT), 0u);
}

// Without a generation bump an entry stays valid: proof that the bump, not
// something else, is what invalidated it above.
TEST_F(RefusalCache, EntryOutlivesMapChangesOfTheSameGeneration) {
    setRule(RL_RULE_DEFAULT, limitRule({tier(perHour(1), 32, 128)}));
    EXPECT_EQ(passes(udp4("198.18.7.4"), 2), 1);
    setRuleSameGeneration(RL_RULE_DEFAULT, actionRule(RL_ACT_ALLOW));
    EXPECT_EQ(run(udp4("198.18.7.4")), XDP_DROP);
    bumpGeneration();
    EXPECT_EQ(run(udp4("198.18.7.4")), XDP_PASS);
}

// A classification that looked at protocol/port narrowing is only reused for the
// same protocol and port: the source's other traffic reaches its own rule.
TEST_F(RefusalCache, PortNarrowedRefusalsStayWithTheirPort) {
    setRule(1, limitRule({tier(perHour(1), 32, 128)}));
    setRule(2, actionRule(RL_ACT_ALLOW));
    setLpm4("198.18.0.0/16", matchSet({matchPorts(1, IPPROTO_TCP, 80, 80), match(2)}));
    auto before = counters();
    EXPECT_EQ(passes(tcp4("198.18.7.5", 80), 3), 1);
    EXPECT_EQ(run(udp4("198.18.7.5", 53)), XDP_PASS);
    EXPECT_EQ(run(tcp4("198.18.7.5", 443)), XDP_PASS);
    EXPECT_EQ(run(tcp4("198.18.7.5", 80)), XDP_DROP);
    auto c = counters() - before;
    EXPECT_EQ(c.packets(2, RL_REASON_ALLOW), 2u);
    EXPECT_EQ(c.packets(1, RL_REASON_DROP_RATE), 3u);
    EXPECT_EQ(c.g(RL_GC_DCACHE_HIT), 2u);
}

// Override blocks are looked up before a cached verdict is used (an override
// installed by a controller does not bump the generation).
TEST_F(RefusalCache, OverrideBlockWinsOverACachedRefusal) {
    rl_config c = defaultConfig();
    c.flags |= RL_CFG_F_OVERRIDES;
    setConfig(c);
    setRule(RL_RULE_DEFAULT, limitRule({tier(perHour(1), 32, 128)}, RL_EXCEED_MONITOR));
    EXPECT_EQ(passes(udp4("198.18.7.6"), 3), 3);  // pass, shadow_rate, shadow_rate (cached)
    setOverride4("198.18.7.6", ~0ull);
    auto before = counters();
    EXPECT_EQ(run(udp4("198.18.7.6")), XDP_DROP);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_OVERRIDE_BLOCK), 1u);
    EXPECT_EQ(d.g(RL_GC_DCACHE_HIT), 1u);
}

// A blocked key is cached as `blocked` until its block ends, then judged by the
// meter again (the block test in test_rules.cpp covers the slow path).
TEST_F(RefusalCache, BlockedKeysAreCachedUntilTheBlockEnds) {
    const uint64_t block_ns = 200 * kMsNs;
    setRule(1, limitRule({tier(gcra(10, 1), 32, 128)}, RL_EXCEED_BLOCK, block_ns));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame f = udp4("198.18.7.7");
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_DROP);  // exceeds: block starts (counted `rate`, not cached)
    auto before = counters({1});
    EXPECT_EQ(run(f), XDP_DROP);  // blocked: meter path, fills the cache
    EXPECT_EQ(run(f), XDP_DROP);  // blocked: from the cache
    auto d = counters({1}) - before;
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_BLOCKED), 2u);
    EXPECT_EQ(d.g(RL_GC_DCACHE_HIT), 1u);
    std::this_thread::sleep_for(std::chrono::milliseconds(450));
    EXPECT_EQ(run(f), XDP_PASS);  // block over, bucket refilled
}

// A refused source passes again once its meter is ready: 10 packets/s, burst 1,
// so the ready time is ~100 ms after the first pass; the loop ends by itself.
TEST_F(RefusalCache, SourcePassesAgainWhenItsMeterIsReady) {
    setRule(RL_RULE_DEFAULT, limitRule({tier(gcra(10, 1), 32, 128)}));
    Frame f = udp4("198.18.7.8");
    auto before = counters();
    ASSERT_EQ(run(f), XDP_PASS);
    const uint64_t first = nowNs();
    EXPECT_EQ(run(f), XDP_DROP);
    int passed = 0;
    for (int i = 0; i < 400 && !passed; i++) {  // 400 * 5 ms = 2 s at most
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        passed = run(f) == XDP_PASS;
    }
    EXPECT_TRUE(passed) << "the cache kept refusing after the meter was ready";
    // never before the meter allows it (100 ms emission interval)
    EXPECT_GE(nowNs() - first, 100 * kMsNs - kMsNs);
    // the refusals in between came from the cache (the counter is cumulative: a delta)
    EXPECT_GT((counters() - before).g(RL_GC_DCACHE_HIT), 0u);
}

}  // namespace
}  // namespace ratelimit::test

namespace ratelimit::test {
namespace {

// After a refusal by the second tier has ended, that tier is metered first:
// the per-source tier is charged exactly once per admitted packet, and a
// packet the aggregate refuses again leaves it untouched.
TEST_F(RefusalCache, RefusingTierGoesFirstNextTime) {
    const rl_meter per_source = tier(gcraPerHour(1, 100), 32, 128);
    setRule(RL_RULE_DEFAULT, limitRule({per_source, tier(gcra(10, 1), 24, 64)}));
    Frame f = udp4("198.18.7.9");
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_DROP);  // the /24 tier refuses: cached, 100 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(run(f), XDP_PASS);  // the /24 tier first (refilled), then the /32
    EXPECT_EQ(run(f), XDP_DROP);  // the /24 tier first again: refused, /32 untouched
    rl_state st{};
    ASSERT_TRUE(state4("198.18.7.9", RL_RULE_DEFAULT, 0, 32, &st));
    const uint64_t t_q = per_source.t_q16[0] >> 16, now_q = nowNs() << RL_TIME_SHIFT;
    ASSERT_GT(st.w[0], now_q);
    // two packets charged to the per-source GCRA: TAT - now is about 2 T
    EXPECT_EQ((st.w[0] - now_q + t_q - 1) / t_q, 2u);
}

}  // namespace
}  // namespace ratelimit::test

namespace ratelimit::test {
namespace {

// Aggregate entries (RL_DC_F_AGG): once the /24 tier of a two-tier rule
// refuses, every source of that /24 is refused from the cache, without a
// state lookup or a key of its own; the same verdicts and counters as the
// meter gives with the cache off. Other /24s are not affected.
TEST_F(RefusalCache, AggregateRefusalHoldsEverySourceOfThePrefix) {
    PinToCpu pin(0);  // the cache is per CPU
    for (bool on : {true, false}) {
        SCOPED_TRACE(on ? "cache on" : "cache off");
        SetUp();
        if (!on) cacheOff();
        setRule(1, limitRule({tier(perHour(100), 32, 128), tier(perHour(2), 24, 64)}));
        setLpm4("198.18.0.0/16", matchSet({match(1)}));
        setLpm6("2001:db8::/32", matchSet({match(1)}));
        auto before = counters({1});
        EXPECT_EQ(passes(udp4("198.18.40.1"), 3), 2);  // the /24's burst of 2
        EXPECT_EQ(passes(udp4("198.18.40.2"), 2), 0);  // same /24
        EXPECT_EQ(passes(udp4("198.18.40.3"), 1), 0);
        EXPECT_EQ(passes(udp4("198.18.41.1"), 1), 1);  // another /24
        EXPECT_EQ(passes(udp6("2001:db8:40:1::1"), 3), 2);  // the /64's burst
        EXPECT_EQ(passes(udp6("2001:db8:40:1::2"), 2), 0);
        EXPECT_EQ(passes(udp6("2001:db8:40:2::1"), 1), 1);  // another /64
        auto d = counters({1}) - before;
        EXPECT_EQ(d.packets(1, RL_REASON_PASS), 6u);
        EXPECT_EQ(d.packets(1, RL_REASON_DROP_RATE), 7u);
        rl_state st{};
        // refused from the aggregate entry: no key was created for them
        EXPECT_EQ(state4("198.18.40.2", 1, 0, 32, &st), !on);
        EXPECT_EQ(state4("198.18.40.3", 1, 0, 32, &st), !on);
        // with the cache: .40.1's 3rd packet and ::1's 3rd filled the entries; the
        // other refusals (.40.2 x2, .40.3, ::2 x2) were hits
        EXPECT_EQ(d.g(RL_GC_DCACHE_HIT), on ? 5u : 0u);
    }
}

// An aggregate entry holds for one rule and one generation: a source of the
// same /24 under another rule is judged by its own rule, and a new generation
// forgets the entry.
TEST_F(RefusalCache, AggregateEntriesAreKeyedByRuleAndGeneration) {
    PinToCpu pin(0);
    setRule(1, limitRule({tier(perHour(100), 32, 128), tier(perHour(1), 24, 64)}));
    setRule(2, limitRule({tier(perHour(100), 32, 128), tier(perHour(1), 24, 64)}));
    setLpm4("198.18.50.0/25", matchSet({match(1)}));
    setLpm4("198.18.50.128/25", matchSet({match(2)}));
    EXPECT_EQ(passes(udp4("198.18.50.1"), 2), 1);    // rule 1's /24 is spent
    EXPECT_EQ(passes(udp4("198.18.50.2"), 1), 0);    // from rule 1's aggregate entry
    EXPECT_EQ(passes(udp4("198.18.50.129"), 1), 1);  // rule 2: its own /24 key
    auto before = counters({1});
    EXPECT_EQ(passes(udp4("198.18.50.3"), 1), 0);
    EXPECT_EQ((counters({1}) - before).g(RL_GC_DCACHE_HIT), 1u);
    bumpGeneration();
    before = counters({1});
    EXPECT_EQ(passes(udp4("198.18.50.4"), 1), 0);  // the meter refuses, not the cache
    EXPECT_EQ((counters({1}) - before).g(RL_GC_DCACHE_HIT), 0u);
}

// An aggregate entry holds for its tier's prefix length: were a /24 tier
// rewritten as /16 (the daemon bumps the generation right after, so only in
// that window), the /24's entry for 198.18.0.0 does not hold the rest of
// 198.18.0.0/16, though the masked addresses are equal.
TEST_F(RefusalCache, AggregateEntriesAreKeyedByPrefixLength) {
    PinToCpu pin(0);
    setRule(1, limitRule({tier(perHour(100), 32, 128), tier(perHour(1), 24, 64)}));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    EXPECT_EQ(passes(udp4("198.18.0.1"), 2), 1);  // the /24 198.18.0.0 is spent: cached
    EXPECT_EQ(run(udp4("198.18.0.2")), XDP_DROP);   // from its entry
    setRuleSameGeneration(1, limitRule({tier(perHour(100), 32, 128), tier(perHour(100), 16, 48)}));
    auto before = counters({1});
    EXPECT_EQ(run(udp4("198.18.77.5")), XDP_PASS);  // the /16's own, fresh key
    EXPECT_EQ((counters({1}) - before).g(RL_GC_DCACHE_HIT), 0u);
}

// An aggregate entry ends when the aggregate meter is ready (10/s, burst 1:
// 100 ms): a source never seen before then passes; the loop ends by itself.
TEST_F(RefusalCache, AggregateEntryEndsWhenTheAggregateIsReady) {
    PinToCpu pin(0);
    setRule(1, limitRule({tier(perHour(100), 32, 128), tier(gcra(10, 1), 24, 64)}));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    ASSERT_EQ(run(udp4("198.18.60.1")), XDP_PASS);
    const uint64_t first = nowNs();
    EXPECT_EQ(run(udp4("198.18.60.1")), XDP_DROP);  // fills the /24's entry
    auto before = counters({1});
    EXPECT_EQ(run(udp4("198.18.60.2")), XDP_DROP);  // a hit
    EXPECT_EQ((counters({1}) - before).g(RL_GC_DCACHE_HIT), 1u);
    int passed = 0;
    for (int i = 0; i < 400 && !passed; i++) {  // 400 * 5 ms = 2 s at most
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        passed = run(udp4("198.18.60." + std::to_string(3 + i % 200))) == XDP_PASS;
    }
    EXPECT_TRUE(passed) << "the aggregate entry kept refusing after the /24 was ready";
    EXPECT_GE(nowNs() - first, 100 * kMsNs - kMsNs);
}

// A penalty box on the aggregate tier: sources of the blocked /24 are refused
// as `blocked` from its entry until the block ends.
TEST_F(RefusalCache, AggregateBlocksAreCachedForThePrefix) {
    PinToCpu pin(0);
    setRule(1, limitRule({tier(perHour(100), 32, 128), tier(perHour(1), 24, 64)}, RL_EXCEED_BLOCK,
                         3600ull * 1000 * kMsNs));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    EXPECT_EQ(passes(udp4("198.18.70.1"), 3), 1);  // pass, exceed (block starts), blocked
    auto before = counters({1});
    EXPECT_EQ(run(udp4("198.18.70.2")), XDP_DROP);
    EXPECT_EQ(run(udp4("198.18.70.3")), XDP_DROP);
    auto d = counters({1}) - before;
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_BLOCKED), 2u);
    EXPECT_EQ(d.g(RL_GC_DCACHE_HIT), 2u);
    EXPECT_EQ(run(udp4("198.18.71.1")), XDP_PASS);  // another /24
}

}  // namespace
}  // namespace ratelimit::test
