// Rules through the real program: LPM precedence, allow/deny/default, every
// meter algorithm, tiers, shadow mode, block action, global ceiling, state map
// capacity, overrides, L2 bytes, events.
//
// Time: BPF_PROG_TEST_RUN stamps packets with bpf_ktime_get_ns(), so rates here
// are per hour (refill during a test is negligible) and counts are exact; the
// only timed tests (block, LIMIT_END) sleep well past short durations and never
// assert timings.
#include <linux/bpf.h>
#include <netinet/in.h>

#include <chrono>
#include <thread>

#include "bpf/support/xdp_fixture.hpp"

namespace ratelimit::test {
namespace {


// Low-rate meters: one packet per hour refill.
rl_meter tbPerHour(uint64_t burst) {
    return must(tokenBucketMeter({.packets = {1, kHourNs}, .burst_packets = burst}));
}

class Rules : public XdpFixture {
protected:
    // Packets used from a GCRA / packet token bucket state word at this moment.
    static uint64_t usedPackets(const rl_state& st, const rl_meter& m) {
        uint64_t now_q = nowNs() << RL_TIME_SHIFT, t = m.t_q16[0] >> 16;
        if (st.w[0] <= now_q) return 0;
        return (st.w[0] - now_q + t - 1) / t;
    }
};

// ---- classification ----------------------------------------------------------------

TEST_F(Rules, LongestPrefixWins) {
    setRule(1, actionRule(RL_ACT_DENY));   // 198.18.0.0/16
    setRule(2, actionRule(RL_ACT_ALLOW));  // 198.18.5.0/24
    setRule(3, actionRule(RL_ACT_DENY));   // 198.18.5.7/32
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    setLpm4("198.18.5.0/24", matchSet({match(2), match(1)}));
    setLpm4("198.18.5.7/32", matchSet({match(3), match(2), match(1)}));
    struct {
        const char* src;
        int verdict;
        uint32_t rule, reason;
    } table[] = {
        {"198.18.9.9", XDP_DROP, 1, RL_REASON_DROP_DENY},
        {"198.18.5.6", XDP_PASS, 2, RL_REASON_ALLOW},
        {"198.18.5.7", XDP_DROP, 3, RL_REASON_DROP_DENY},
        {"198.19.5.7", XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW},
    };
    for (auto& row : table) {
        SCOPED_TRACE(row.src);
        auto before = counters();
        EXPECT_EQ(run(udp4(row.src)), row.verdict);
        auto d = counters() - before;
        EXPECT_EQ(d.packets(row.rule, row.reason), 1u);
        EXPECT_EQ(d.totalPackets(), 1u);
    }
}

TEST_F(Rules, NarrowedMatchBeforeBroaderAtSamePrefixAndInheritance) {
    setRule(1, actionRule(RL_ACT_DENY));   // /24 udp/53
    setRule(2, actionRule(RL_ACT_ALLOW));  // /24 tcp any port
    setRule(3, actionRule(RL_ACT_DENY));   // /16 everything (inherited by the /24)
    setRule(4, actionRule(RL_ACT_ALLOW));  // /16 tcp 22 (inherited, after the /24's own)
    setLpm4("198.18.0.0/16", matchSet({matchPorts(4, IPPROTO_TCP, 22, 22), match(3)}));
    setLpm4("198.18.5.0/24", matchSet({matchPorts(1, IPPROTO_UDP, 53, 53), matchProto(2, IPPROTO_TCP),
                                       matchPorts(4, IPPROTO_TCP, 22, 22), match(3)}));
    struct {
        Frame f;
        int verdict;
        uint32_t rule, reason;
    } table[] = {
        {udp4("198.18.5.1", 53), XDP_DROP, 1, RL_REASON_DROP_DENY},
        {udp4("198.18.5.1", 54), XDP_DROP, 3, RL_REASON_DROP_DENY},   // inherited catch-all
        {tcp4("198.18.5.1", 22), XDP_PASS, 2, RL_REASON_ALLOW},       // /24's tcp before /16's tcp/22
        {tcp4("198.18.6.1", 22), XDP_PASS, 4, RL_REASON_ALLOW},       // only the /16 applies
        {tcp4("198.18.6.1", 23), XDP_DROP, 3, RL_REASON_DROP_DENY},
        {udp4("198.20.0.1", 53), XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW},
    };
    for (auto& row : table) {
        auto before = counters();
        EXPECT_EQ(run(row.f), row.verdict);
        auto d = counters() - before;
        EXPECT_EQ(d.packets(row.rule, row.reason), 1u);
        EXPECT_EQ(d.totalPackets(), 1u);
    }
}

TEST_F(Rules, Ipv6LongestPrefixWins) {
    setRule(1, actionRule(RL_ACT_DENY));
    setRule(2, actionRule(RL_ACT_ALLOW));
    setLpm6("2001:db8::/32", matchSet({match(1)}));
    setLpm6("2001:db8:1::/48", matchSet({match(2), match(1)}));
    auto before = counters();
    EXPECT_EQ(run(udp6("2001:db8:2::1")), XDP_DROP);
    EXPECT_EQ(run(udp6("2001:db8:1::1")), XDP_PASS);
    EXPECT_EQ(run(udp6("2001:db9::1")), XDP_PASS);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_DENY), 1u);
    EXPECT_EQ(d.packets(2, RL_REASON_ALLOW), 1u);
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_ALLOW), 1u);
}

TEST_F(Rules, DefaultRuleAppliesWhenNothingMatches) {
    setRule(RL_RULE_DEFAULT, limitRule({tier(tbPerHour(3), 32, 128)}));
    auto before = counters();
    EXPECT_EQ(passes(udp4("203.0.113.9"), 5), 3);
    EXPECT_EQ(passes(udp6("2001:db8::9"), 5), 3);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_PASS), 6u);
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_DROP_RATE), 4u);
    setRule(RL_RULE_DEFAULT, actionRule(RL_ACT_DENY));
    EXPECT_EQ(run(udp4("203.0.113.10")), XDP_DROP);
}

// ---- every algorithm admits exactly its burst ------------------------------------------

struct AlgoCase {
    const char* name;
    rl_meter meter;
    size_t payload;   // UDP payload: IPv4 packet = 28 + payload bytes
    int admitted;     // expected admits from a fresh key
};

TEST_F(Rules, EveryAlgorithmAdmitsExactlyTheBurst) {
    const AlgoCase table[] = {
        {"tb_packets", tbPerHour(5), 0, 5},
        // 1000-byte packets, 10000-byte burst at the minimum 125 B/s: 10 packets
        {"tb_bytes", must(tokenBucketMeter({.bytes = {125, RL_NSEC_PER_SEC}, .burst_bytes = 10000})), 972, 10},
        {"tb_both_packets_bind", must(tokenBucketMeter({.packets = {1, kHourNs}, .burst_packets = 3,
                                                        .bytes = {125, RL_NSEC_PER_SEC}, .burst_bytes = 100000})), 972, 3},
        {"tb_both_bytes_bind", must(tokenBucketMeter({.packets = {1, kHourNs}, .burst_packets = 100,
                                                      .bytes = {125, RL_NSEC_PER_SEC}, .burst_bytes = 4000})), 972, 4},
        {"gcra", gcraPerHour(1, 7), 0, 7},
        {"gcra_burst1", gcraPerHour(1, 1), 0, 1},
        {"sliding_window", window(true, 6, kHourNs), 0, 6},
        {"fixed_window", window(false, 6, kHourNs), 0, 6},
    };
    uint32_t rule = 10;
    for (const AlgoCase& c : table) {
        SCOPED_TRACE(c.name);
        setRule(rule, limitRule({tier(c.meter, 32, 128)}));
        std::string net = "198.18." + std::to_string(rule) + ".0/24";
        std::string src = "198.18." + std::to_string(rule) + ".1";
        setLpm4(net, matchSet({match(rule)}));
        Frame f = udp4(src, 5000, c.payload);
        auto before = counters();
        std::vector<int> verdicts;
        for (int i = 0; i < c.admitted + 5; i++) verdicts.push_back(run(f));
        for (int i = 0; i < c.admitted + 5; i++)
            EXPECT_EQ(verdicts[i], i < c.admitted ? XDP_PASS : XDP_DROP) << "packet " << i;
        // the same through one BPF_PROG_TEST_RUN with repeat: all dropped
        EXPECT_EQ(run(f, 20), XDP_DROP);
        auto d = counters() - before;
        EXPECT_EQ(d.packets(rule, RL_REASON_PASS), uint64_t(c.admitted));
        EXPECT_EQ(d.packets(rule, RL_REASON_DROP_RATE), 25u);
        EXPECT_EQ(d.bytes(rule, RL_REASON_PASS), uint64_t(c.admitted) * (28 + c.payload));
        // a different source has its own meter
        EXPECT_EQ(passes(udp4("198.18." + std::to_string(rule) + ".2", 5000, c.payload), c.admitted + 2),
                  c.admitted);
        rule++;
    }
}

// ---- tiers -----------------------------------------------------------------------------

TEST_F(Rules, Ipv4TiersShareTheSlash24AndRefundEarlierTiers) {
    PinToCpu pin(0);  // the refusal cache is per CPU
    rl_meter host = tier(gcraPerHour(1, 3), 32, 128), net = tier(gcraPerHour(1, 5), 24, 64);
    setRule(1, limitRule({host, net}));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    auto before = counters();
    EXPECT_EQ(passes(udp4("198.18.1.1"), 4), 3);  // host tier binds
    EXPECT_EQ(passes(udp4("198.18.1.2"), 4), 2);  // the /24 has 2 left
    EXPECT_EQ(passes(udp4("198.18.1.3"), 2), 0);  // /24 exhausted for everyone in it
    EXPECT_EQ(passes(udp4("198.18.2.1"), 4), 3);  // another /24: fresh
    auto d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), 8u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_RATE), 6u);

    // policer: .2's host tier conformed for packets 3 and 4 but the /24 said no,
    // so they were given back: .2 used 2 of its 3. .3 used none: the /24's
    // refusal was remembered for the whole /24 (the refusal cache's aggregate
    // entry), so its packets never reached its host tier, nor created its key.
    rl_state st{};
    ASSERT_TRUE(state4("198.18.1.2", 1, 0, 32, &st));
    EXPECT_EQ(usedPackets(st, host), 2u);
    EXPECT_FALSE(state4("198.18.1.3", 1, 0, 32, &st));
    ASSERT_TRUE(state4("198.18.1.0", 1, 1, 24, &st));
    EXPECT_EQ(usedPackets(st, net), 5u);
}

TEST_F(Rules, Ipv6TiersAt128And64And48) {
    rl_meter t128 = tier(gcraPerHour(1, 2), 32, 128), t64 = tier(gcraPerHour(1, 3), 24, 64),
             t48 = tier(gcraPerHour(1, 4), 16, 48);
    setRule(1, limitRule({t128, t64, t48}));
    setLpm6("2001:db8::/32", matchSet({match(1)}));
    EXPECT_EQ(passes(udp6("2001:db8:1:1::1"), 3), 2);
    EXPECT_EQ(passes(udp6("2001:db8:1:1::2"), 3), 1);  // /64 has 1 left
    EXPECT_EQ(passes(udp6("2001:db8:1:2::1"), 3), 1);  // /48 has 1 left
    EXPECT_EQ(passes(udp6("2001:db8:1:3::1"), 3), 0);  // /48 exhausted
    EXPECT_EQ(passes(udp6("2001:db8:2:1::1"), 3), 2);  // another /48
}

// ---- exceed actions ----------------------------------------------------------------------

TEST_F(Rules, ShadowModePassesAndCountsWouldDrop) {
    setRule(1, limitRule({tier(gcraPerHour(1, 2), 32, 128)}, RL_EXCEED_MONITOR));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    auto before = counters();
    EXPECT_EQ(passes(udp4("198.18.0.1"), 6), 6);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), 2u);
    EXPECT_EQ(d.packets(1, RL_REASON_SHADOW_RATE), 4u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_RATE), 0u);
    auto ev = events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].type, RL_EV_LIMIT_START);
    EXPECT_EQ(ev[0].reason, RL_REASON_SHADOW_RATE);
}

TEST_F(Rules, BlockDropsForBlockNsThenUnblocks) {
    // 5/s burst 2 (T = 200 ms: the first packets are far inside it even on a
    // loaded machine); block 200 ms; a 450 ms sleep ends the block and refills
    rl_meter m = tier(gcra(5, 2), 32, 128);
    const uint64_t block_ns = 200 * kMsNs;
    setRule(1, limitRule({m}, RL_EXCEED_BLOCK, block_ns));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame f = udp4("198.18.0.1");
    auto before = counters();
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_DROP);  // exceeds: block starts
    EXPECT_EQ(run(f), XDP_DROP);  // blocked
    EXPECT_EQ(run(f), XDP_DROP);  // blocked
    rl_block b{};
    ASSERT_TRUE(block4("198.18.0.1", 1, 0, 32, &b));
    EXPECT_EQ(b.until_ns - b.since_ns, block_ns);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), 2u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_RATE), 1u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_BLOCKED), 2u);
    EXPECT_EQ(d.g(RL_GC_BLOCK_INSERT), 1u);

    std::this_thread::sleep_for(std::chrono::milliseconds(450));
    before = counters();
    EXPECT_EQ(run(f), XDP_PASS);
    d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), 1u);
    EXPECT_FALSE(block4("198.18.0.1", 1, 0, 32, &b)) << "expired block entry is removed";

    auto ev = events();
    std::vector<int> types;
    for (auto& e : ev) types.push_back(e.type);
    EXPECT_EQ(types, (std::vector<int>{RL_EV_LIMIT_START, RL_EV_BLOCK_START, RL_EV_BLOCK_END,
                                       RL_EV_LIMIT_END}));
    for (auto& e : ev) {
        EXPECT_EQ(e.rule_id, 1);
        EXPECT_EQ(e.family, 4);
        EXPECT_EQ(e.prefix_len, 32);
        EXPECT_EQ(std::vector<uint8_t>(e.addr, e.addr + 4), parseAddr("198.18.0.1"));
    }
    ASSERT_EQ(ev.size(), 4u);
    EXPECT_EQ(ev[1].until_ns, ev[1].ts_ns + block_ns);
}

// ---- global ceiling ----------------------------------------------------------------------

TEST_F(Rules, GlobalCeilingCapsAllSourcesTogether) {
    rl_rule r = limitRule({tier(gcraPerHour(1, 100), 32, 128)});
    r.has_global = 1;
    r.global = gcraPerHour(1, 10);
    setRule(1, r);
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    auto before = counters();
    int admitted = 0;
    for (int i = 0; i < 50; i++) admitted += passes(udp4("198.18.3." + std::to_string(i + 1)), 2);
    auto d = counters() - before;
    EXPECT_EQ(admitted, 10);
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), 10u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_GLOBAL), 90u);
    // the ceiling's refusals were refunded to the per-source tier
    rl_state st{};
    ASSERT_TRUE(state4("198.18.3.50", 1, 0, 32, &st));
    EXPECT_EQ(usedPackets(st, r.tiers[0]), 0u);

    // monitor: passes, counted as SHADOW_GLOBAL
    r.on_exceed = RL_EXCEED_MONITOR;
    setRule(1, r);
    before = counters();
    EXPECT_EQ(passes(udp4("198.18.4.1"), 3), 3);
    d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_SHADOW_GLOBAL), 3u);
}

// ---- overrides, L2 bytes ------------------------------------------------------------------

TEST_F(Rules, OverrideBlocksOnlyWhileEnabledAndUnexpired) {
    setRule(1, actionRule(RL_ACT_ALLOW));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    setOverride4("198.18.0.1", nowNs() + kHourNs);
    setOverride4("198.18.0.2", ~0ull);
    setOverride4("198.18.0.3", nowNs() - 1);  // expired
    EXPECT_EQ(run(udp4("198.18.0.1")), XDP_PASS) << "RL_CFG_F_OVERRIDES not set: map not consulted";
    rl_config cfg = defaultConfig();
    cfg.flags |= RL_CFG_F_OVERRIDES;
    setConfig(cfg);
    auto before = counters();
    EXPECT_EQ(run(udp4("198.18.0.1")), XDP_DROP);
    EXPECT_EQ(run(udp4("198.18.0.2")), XDP_DROP);
    EXPECT_EQ(run(udp4("198.18.0.3")), XDP_PASS);
    EXPECT_EQ(run(udp4("198.18.0.4")), XDP_PASS);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_OVERRIDE_BLOCK), 2u);
    EXPECT_EQ(d.packets(1, RL_REASON_ALLOW), 2u);
}

TEST_F(Rules, L2BytesFlagCountsAndMetersFromEthernet) {
    // 500-byte frame = 486-byte IP packet; byte burst 990 admits 2 IP packets or 1 frame
    rl_meter m = tier(must(tokenBucketMeter({.bytes = {125, RL_NSEC_PER_SEC}, .burst_bytes = 990})), 32, 128);
    setRule(1, limitRule({m}));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame a = udp4("198.18.0.1", 5000, 486 - 28), b = udp4("198.18.0.2", 5000, 486 - 28);
    ASSERT_EQ(a.size(), 500u);
    auto before = counters();
    EXPECT_EQ(passes(a, 4), 2);
    EXPECT_EQ((counters() - before).bytes(1, RL_REASON_PASS), 2u * 486);
    rl_config cfg = defaultConfig();
    cfg.flags |= RL_CFG_F_L2_BYTES;
    setConfig(cfg);
    before = counters();
    EXPECT_EQ(passes(b, 4), 1);
    auto d = counters() - before;
    EXPECT_EQ(d.bytes(1, RL_REASON_PASS), 500u);
    EXPECT_EQ(d.bytes(1, RL_REASON_DROP_RATE), 3u * 500);
}

// ---- events ---------------------------------------------------------------------------------

TEST_F(Rules, LimitStartAndEndEvents) {
    setRule(1, limitRule({tier(gcra(5, 1), 32, 128)}));  // T = 200 ms
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame f = udp4("198.18.0.9");
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_DROP);
    EXPECT_EQ(run(f), XDP_DROP);  // still limited: no second LIMIT_START
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_DROP);  // limited again: a new edge
    auto ev = events();
    std::vector<int> types;
    for (auto& e : ev) types.push_back(e.type);
    EXPECT_EQ(types, (std::vector<int>{RL_EV_LIMIT_START, RL_EV_LIMIT_END, RL_EV_LIMIT_START}));
    if (!ev.empty()) {
        EXPECT_EQ(ev[0].reason, RL_REASON_DROP_RATE);
    }
}

TEST_F(Rules, EventRateLimiterSuppressesBeyondBurst) {
    PinToCpu pin(0);  // the event limiter is per CPU
    rl_config cfg = defaultConfig();
    cfg.event_rate = 1;  // 1/s: no refill during the test
    cfg.event_burst = 3;
    setConfig(cfg);
    setRule(1, limitRule({tier(gcraPerHour(1, 1), 32, 128)}));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    auto before = counters();
    for (int i = 0; i < 10; i++) passes(udp4("198.18.7." + std::to_string(i + 1)), 2);  // 10 LIMIT_STARTs
    auto d = counters() - before;
    EXPECT_EQ(d.g(RL_GC_EVENT_SENT), 3u);
    EXPECT_EQ(d.g(RL_GC_EVENT_SUPPRESSED), 7u);
    EXPECT_EQ(events().size(), 3u);
}

// ---- state map capacity -----------------------------------------------------------------------

// rl_state4 is an LRU hash: when it is full, inserting a new key evicts an old
// one instead of failing, so STATE_FULL is not reached; an evicted key comes
// back with a fresh (full) meter. This documents that behaviour.
class TinyState : public Rules {
public:
    static constexpr uint32_t kEntries = 16;
    static void SetUpTestSuite() { setUpSuite(LoadOptions{.state_entries = kEntries}); }
};

TEST_F(TinyState, LruEvictsInsteadOfFailing) {
    setRule(1, limitRule({tier(gcraPerHour(1, 1), 32, 128)}));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    const int sources = 64;
    auto before = counters();
    int first = 0, second = 0;
    for (int i = 0; i < sources; i++) first += passes(udp4("198.18.8." + std::to_string(i + 1)), 1);
    for (int i = 0; i < sources; i++) second += passes(udp4("198.18.8." + std::to_string(i + 1)), 1);
    auto d = counters() - before;
    EXPECT_EQ(first, sources);
    EXPECT_LE(countKeys4(), size_t(kEntries));
    // at most kEntries keys survived, so at least sources - kEntries were re-admitted
    EXPECT_GE(second, sources - int(kEntries));
    EXPECT_EQ(d.packets(1, RL_REASON_STATE_FULL), 0u);
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT_FAIL), 0u);
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), uint64_t(sources + second));
    RecordProperty("readmitted_after_eviction", second);
}

}  // namespace
}  // namespace ratelimit::test

namespace ratelimit::test {
namespace {

class Edges : public XdpFixture {};

// LIMIT_START names the tier that refused; LIMIT_END must come for that same
// tier (here the shared /24) once it conforms again, and a later episode must
// start again.
TEST_F(Edges, LimitEndForTheTierThatLimited) {
    rl_meter host = tier(gcraPerHour(1, 100), 32, 128), net = tier(gcra(5, 1), 24, 64);  // T = 200 ms
    setRule(1, limitRule({host, net}));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame f = PacketBuilder().ipv4("198.18.9.1", "198.19.0.1").udp(1, 2).build();
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_DROP);  // /24 tier refuses: LIMIT_START tier 1
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(run(f), XDP_PASS);  // LIMIT_END tier 1
    EXPECT_EQ(run(f), XDP_DROP);  // LIMIT_START tier 1 again
    auto ev = events();
    std::vector<std::pair<int, int>> got;
    for (auto& e : ev) got.emplace_back(e.type, e.tier);
    EXPECT_EQ(got, (std::vector<std::pair<int, int>>{
                       {RL_EV_LIMIT_START, 1}, {RL_EV_LIMIT_END, 1}, {RL_EV_LIMIT_START, 1}}));
    for (auto& e : ev) EXPECT_EQ(e.prefix_len, 24);
}

}  // namespace
}  // namespace ratelimit::test

namespace ratelimit::test {
namespace {

class MoreRules : public XdpFixture {
protected:
    void SetUp() override {
        XdpFixture::SetUp();
        setLpm4("198.18.0.0/16", matchSet({match(1)}));
        setLpm6("2001:db8::/32", matchSet({match(1)}));
    }
    static Frame v4(const std::string& src) {
        return PacketBuilder().ipv4(src, "198.19.0.1").udp(1, 2).build();
    }
};

// RL_CFG_F_NEW_EMPTY: a key seen for the first time has no burst to spend.
TEST_F(MoreRules, NewEmptyKeysStartWithNothing) {
    rl_config cfg = defaultConfig();
    cfg.flags |= RL_CFG_F_NEW_EMPTY;
    setConfig(cfg);
    const rl_meter meters[] = {gcraPerHour(1, 5), must(tokenBucketMeter({.packets = {1, kHourNs}, .burst_packets = 5})),
                               window(true, 5, kHourNs), window(false, 5, kHourNs)};
    int i = 0;
    for (const rl_meter& m : meters) {
        SCOPED_TRACE("algo " + std::to_string(m.algo));
        setRule(1, limitRule({tier(m, 32, 128)}));
        EXPECT_EQ(passes(v4("198.18.20." + std::to_string(++i)), 3), 0);
    }
}

// A rule whose meter changes (generation bump, or another algorithm) restarts its keys.
TEST_F(MoreRules, GenerationOrAlgorithmChangeRestartsKeys) {
    rl_rule r = limitRule({tier(gcraPerHour(1, 2), 32, 128)});
    setRule(1, r);
    Frame f = v4("198.18.21.1");
    EXPECT_EQ(passes(f, 4), 2);
    EXPECT_EQ(passes(f, 2), 0) << "same generation: state kept";
    r.generation = 2;
    setRule(1, r);
    EXPECT_EQ(passes(f, 4), 2);
    r.tiers[0] = tier(window(false, 3, kHourNs), 32, 128);  // same generation, new algorithm
    setRule(1, r);
    EXPECT_EQ(passes(f, 5), 3);
}

TEST_F(MoreRules, Ipv6OverrideAndDeny) {
    setRule(1, actionRule(RL_ACT_ALLOW));
    rl_config cfg = defaultConfig();
    cfg.flags |= RL_CFG_F_OVERRIDES;
    setConfig(cfg);
    setOverride6("2001:db8::66", ~0ull);
    auto before = counters();
    EXPECT_EQ(run(PacketBuilder().ipv6("2001:db8::66", "2001:db8::1").tcp(1, 2).build()), XDP_DROP);
    EXPECT_EQ(run(PacketBuilder().ipv6("2001:db8::67", "2001:db8::1").tcp(1, 2).build()), XDP_PASS);
    auto d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_OVERRIDE_BLOCK), 1u);
    EXPECT_EQ(d.packets(1, RL_REASON_ALLOW), 1u);
}

TEST_F(MoreRules, Ipv6BlockAndTierState) {
    setRule(1, limitRule({tier(gcraPerHour(1, 1), 32, 64)}, RL_EXCEED_BLOCK, kHourNs));
    Frame a = PacketBuilder().ipv6("2001:db8:0:1::1", "2001:db8::1").udp(1, 2).build();
    Frame b = PacketBuilder().ipv6("2001:db8:0:1::2", "2001:db8::1").udp(1, 2).build();  // same /64
    auto before = counters();
    EXPECT_EQ(run(a), XDP_PASS);
    EXPECT_EQ(run(b), XDP_DROP);  // the /64 is the key: exceeds, block starts
    EXPECT_EQ(run(a), XDP_DROP);  // blocked
    auto d = counters() - before;
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_RATE), 1u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_BLOCKED), 1u);
    auto ev = events();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[1].type, RL_EV_BLOCK_START);
    EXPECT_EQ(ev[1].family, 6);
    EXPECT_EQ(ev[1].prefix_len, 64);
    EXPECT_EQ(std::vector<uint8_t>(ev[1].addr, ev[1].addr + 16), parseAddr("2001:db8:0:1::"));
}

// event_rate * event_burst is not bounded by the config: a huge burst must mean
// "many events", never wrap around to "none".
TEST_F(MoreRules, HugeEventBurstDoesNotWrap) {
    PinToCpu pin(0);
    rl_config cfg = defaultConfig();
    cfg.event_rate = 1;
    cfg.event_burst = 288230377;  // (1e9 << 6) * this wraps 2^64 to < one event's cost
    setConfig(cfg);
    setRule(1, limitRule({tier(gcraPerHour(1, 1), 32, 128)}));
    auto before = counters();
    for (int i = 0; i < 5; i++) passes(v4("198.18.22." + std::to_string(i + 1)), 2);
    auto d = counters() - before;
    EXPECT_EQ(d.g(RL_GC_EVENT_SENT), 5u);
    EXPECT_EQ(d.g(RL_GC_EVENT_SUPPRESSED), 0u);
}

}  // namespace
}  // namespace ratelimit::test

namespace ratelimit::test {
namespace {

class Refunds : public XdpFixture {};

// A token bucket with packets AND bytes as tier 0, a /24 GCRA as tier 1: when
// the /24 refuses, both of tier 0's dimensions are given back; when tier 0's
// byte dimension refuses, its packet dimension is given back.
TEST_F(Refunds, BothTokenBucketDimensionsAreRefunded) {
    rl_meter host = tier(must(tokenBucketMeter({.packets = {1, kHourNs}, .burst_packets = 10,
                                                .bytes = {125, RL_NSEC_PER_SEC}, .burst_bytes = 100000})),
                         32, 128);
    rl_meter net = tier(gcraPerHour(1, 2), 24, 64);
    setRule(1, limitRule({host, net}));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame f = PacketBuilder().ipv4("198.18.30.1", "198.19.0.1").udp(1, 2).payload(972).build();  // 1000 B IP
    int passed = 0;
    for (int i = 0; i < 6; i++) passed += run(f) == XDP_PASS;
    EXPECT_EQ(passed, 2);
    rl_state st{};
    ASSERT_TRUE(state4("198.18.30.1", 1, 0, 32, &st));
    uint64_t now_q = nowNs() << RL_TIME_SHIFT;
    auto used = [&](int dim, uint64_t units) {
        uint64_t cost = (units * host.t_q16[dim]) >> 16;
        return st.w[dim] > now_q ? (st.w[dim] - now_q + cost - 1) / cost : 0;
    };
    EXPECT_EQ(used(0, 1), 2u) << "packet dimension: only the 2 admitted packets";
    EXPECT_EQ(used(1, 1000), 2u) << "byte dimension: only the 2 admitted packets' bytes";

    // byte dimension binds on its own (fresh source, 2500-byte burst in a new rule)
    rl_meter bytes_bind = tier(must(tokenBucketMeter({.packets = {1, kHourNs}, .burst_packets = 10,
                                                      .bytes = {125, RL_NSEC_PER_SEC}, .burst_bytes = 2500})),
                               32, 128);
    setRule(2, limitRule({bytes_bind}));
    setLpm4("198.18.31.0/24", matchSet({match(2)}));
    Frame g = PacketBuilder().ipv4("198.18.31.1", "198.19.0.1").udp(1, 2).payload(972).build();
    passed = 0;
    for (int i = 0; i < 6; i++) passed += run(g) == XDP_PASS;
    EXPECT_EQ(passed, 2);
    ASSERT_TRUE(state4("198.18.31.1", 2, 0, 32, &st));
    now_q = nowNs() << RL_TIME_SHIFT;
    uint64_t pcost = bytes_bind.t_q16[0] >> 16;
    EXPECT_EQ(st.w[0] > now_q ? (st.w[0] - now_q + pcost - 1) / pcost : 0, 2u)
        << "refused by bytes: the packet charge was given back";
}

}  // namespace
}  // namespace ratelimit::test

namespace ratelimit::test {
namespace {

class Fragments : public XdpFixture {};

// Non-first fragments carry no ports but are still metered by source: a flood
// of fragments cannot bypass a limit (nor a port-narrowed deny: they fall to
// the next candidate, here the catch-all limit).
TEST_F(Fragments, NonFirstFragmentsAreMeteredBySource) {
    setRule(1, actionRule(RL_ACT_DENY));
    setRule(2, limitRule({tier(gcraPerHour(1, 3), 32, 128)}));
    setLpm4("198.18.0.0/16", matchSet({matchPorts(1, IPPROTO_UDP, 53, 53), match(2)}));
    setLpm6("2001:db8::/32", matchSet({matchPorts(1, IPPROTO_UDP, 53, 53), match(2)}));
    Frame first = PacketBuilder().ipv4("198.18.40.1", "198.19.0.1").ipv4Fragment(true, 0).udp(1, 80).payload(64).build();
    Frame rest = PacketBuilder().ipv4("198.18.40.1", "198.19.0.1").ipv4Fragment(true, 9).l4proto(IPPROTO_UDP, 0).payload(64).build();
    Frame rest6 = PacketBuilder().ipv6("2001:db8::40", "2001:db8::1").ext6Fragment(true, 9).udp(1, 53).payload(64).build();
    auto before = counters();
    int passed = run(first) == XDP_PASS;
    for (int i = 0; i < 4; i++) passed += run(rest) == XDP_PASS;
    int passed6 = 0;
    for (int i = 0; i < 5; i++) passed6 += run(rest6) == XDP_PASS;
    auto d = counters() - before;
    EXPECT_EQ(passed, 3);
    EXPECT_EQ(passed6, 3);
    EXPECT_EQ(d.packets(2, RL_REASON_PASS), 6u);
    EXPECT_EQ(d.packets(2, RL_REASON_DROP_RATE), 4u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_DENY), 0u);
}

}  // namespace
}  // namespace ratelimit::test

namespace ratelimit::test {
namespace {

class Talkers : public XdpFixture {};

// talker_shift = 1 samples each IP packet with probability 1/2 (a hash of clock and source):
// after 200 packets an entry exists (miss probability 2^-200), its counts are
// consistent and bounded by what was sent; non-IP packets are never sampled.
TEST_F(Talkers, SampledCountsAreConsistent) {
    rl_config cfg = defaultConfig();
    cfg.talker_shift = 1;
    setConfig(cfg);
    setRule(1, actionRule(RL_ACT_DENY));
    setLpm4("198.18.50.0/24", matchSet({match(1)}));
    Frame f = PacketBuilder().ipv4("198.18.50.1", "198.19.0.1").udp(1, 2).payload(72).build();  // 100 B IP
    for (int i = 0; i < 200; i++) EXPECT_EQ(run(f), XDP_DROP);
    Frame g = PacketBuilder().ipv6("2001:db8::50", "2001:db8::1").udp(1, 2).build();
    for (int i = 0; i < 200; i++) EXPECT_EQ(run(g), XDP_PASS);
    rl_talker t{};
    ASSERT_TRUE(talker("198.18.50.1", &t));
    EXPECT_GT(t.packets, 0u);
    EXPECT_LE(t.packets, 200u);
    EXPECT_EQ(t.bytes, t.packets * 100);
    EXPECT_EQ(t.dropped, t.packets);
    EXPECT_EQ(t.rule_id, 1u);
    ASSERT_TRUE(talker("2001:db8::50", &t));
    EXPECT_GT(t.packets, 0u);
    EXPECT_EQ(t.dropped, 0u);
    EXPECT_EQ(t.rule_id, uint32_t(RL_RULE_DEFAULT));
}

}  // namespace
}  // namespace ratelimit::test
