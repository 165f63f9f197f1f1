// Admission control for new keys (spoofed floods) and start-empty under
// pressure, through the real program. See abi.h "Admission control".
//
// Time: rates are per hour (refill during a test is a few millionths of a
// packet), so counts are exact; the one rate test asserts the I.371 bound.
#include <linux/bpf.h>

#include <atomic>
#include <string>
#include <thread>

#include "bpf/support/xdp_fixture.hpp"

namespace ratelimit::test {
namespace {


// i-th spoofed source, 198.19.0.0/16 (never one of the established 198.18.x.y).
std::string spoofed(uint32_t i) {
    return "198.19." + std::to_string((i >> 8) & 0xff) + "." + std::to_string(i & 0xff);
}

rl_meter tbPerHour(uint64_t burst) {
    return must(tokenBucketMeter({.packets = {1, kHourNs}, .burst_packets = burst}));
}

// One /32 tier (token bucket, `burst` per hour) with admission control.
rl_rule admitRule(uint64_t burst, rl_meter admit, rl_meter unknown) {
    rl_rule r = limitRule({tier(tbPerHour(burst), 32, 128)});
    r.admit = admit;
    r.unknown = unknown;
    return r;
}

class Admission : public XdpFixture {
protected:
    void SetUp() override {
        XdpFixture::SetUp();
        setLpm4("198.18.0.0/15", matchSet({match(1)}));
    }
    // Packets used from a virtual-time packet word at this moment.
    static uint64_t usedPackets(const rl_state& st, const rl_meter& m) {
        uint64_t now_q = nowNs() << RL_TIME_SHIFT, t = m.t_q16[0] >> 16;
        if (st.w[0] <= now_q) return 0;
        return (st.w[0] - now_q + t - 1) / t;
    }
    // One packet from each of `n` spoofed sources starting at `first`; returns passes.
    int flood(uint32_t first, uint32_t n) {
        int p = 0;
        for (uint32_t i = first; i < first + n; i++) p += run(udp4(spoofed(i))) == XDP_PASS;
        return p;
    }
};

// admit.algo NONE (a zeroed rule): every new key is inserted, as before.
TEST_F(Admission, DisabledInsertsEveryNewKey) {
    setRule(1, admitRule(5, rl_meter{}, rl_meter{}));
    auto before = counters({1});
    EXPECT_EQ(flood(0, 40), 40);
    auto d = counters({1}) - before;
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 40u);
    EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), 0u);
    EXPECT_EQ(countKeys4(), 40u);
}

// The admission meter bounds inserts by its burst; with no unknown allowance
// (unknown.algo NONE) every refused packet drops as "unknown".
TEST_F(Admission, AdmitMeterLimitsInsertsToItsBurst) {
    struct {
        uint64_t admit_burst;
        uint32_t sources;
    } table[] = {{1, 20}, {10, 50}, {64, 64}, {64, 300}};
    uint32_t base = 0;
    for (auto& row : table) {
        SCOPED_TRACE("admit burst " + std::to_string(row.admit_burst));
        SetUp();
        setRule(1, admitRule(5, gcraPerHour(1, row.admit_burst), rl_meter{}));
        auto before = counters({1});
        int passed = flood(base, row.sources);
        base += row.sources;
        auto d = counters({1}) - before;
        uint64_t admitted = std::min<uint64_t>(row.admit_burst, row.sources);
        EXPECT_EQ(uint64_t(passed), admitted);
        EXPECT_EQ(d.g(RL_GC_KEY_INSERT), admitted);
        EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), row.sources - admitted);
        EXPECT_EQ(d.packets(1, RL_REASON_PASS), admitted);
        EXPECT_EQ(d.packets(1, RL_REASON_DROP_UNKNOWN), row.sources - admitted);
        EXPECT_EQ(countKeys4(), admitted);
    }
}

// IPv6 keys go through the same admission (one meter per rule, not per family).
TEST_F(Admission, Ipv6NewKeysAreAdmittedToo) {
    setLpm6("2001:db8::/32", matchSet({match(1)}));
    setRule(1, admitRule(5, gcraPerHour(1, 3), gcraPerHour(1, 2)));
    auto before = counters({1});
    int passed = 0;
    for (int i = 1; i <= 20; i++)
        passed += run(PacketBuilder().ipv6("2001:db8::" + std::to_string(i), "2001:db8:ffff::1").udp(1, 2).build()) ==
                  XDP_PASS;
    auto d = counters({1}) - before;
    EXPECT_EQ(passed, 3 + 2);
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 3u);
    EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), 17u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_UNKNOWN), 15u);
}

// Burst + rate: over any interval the inserts stay within the I.371 bound
// (burst + elapsed * rate); the sender is fast enough to use some refill.
TEST_F(Admission, AdmitMeterRefillsAtItsRate) {
    const uint64_t rate = 100, burst = 5;
    setRule(1, admitRule(5, gcra(rate, burst), rl_meter{}));
    auto before = counters({1});
    uint64_t t0 = nowNs(), sent = 0;
    // until 5 emission intervals have passed (or a bounded number of packets)
    while (nowNs() - t0 < 5 * RL_NSEC_PER_SEC / rate && sent < 200000) flood(sent++, 1);
    uint64_t elapsed = nowNs() - t0;
    auto d = counters({1}) - before;
    uint64_t inserts = d.g(RL_GC_KEY_INSERT);
    EXPECT_LE(inserts, burst + elapsed * rate / RL_NSEC_PER_SEC + 1);
    EXPECT_GT(inserts, burst);  // refill was used
    EXPECT_EQ(inserts + d.g(RL_GC_ADMIT_REFUSED), sent);
    RecordProperty("sent", int(sent));
    RecordProperty("inserts", int(inserts));
}

// Refused packets share one allowance: `unknown` passes its burst in total,
// whatever the number of sources, and inserts nothing. Monitor mode passes
// the rest as shadow_unknown.
TEST_F(Admission, UnknownMeterSharesOneAllowance) {
    const uint64_t admit_burst = 2, unknown_burst = 7;
    const uint32_t sources = 50;
    rl_rule r = admitRule(5, gcraPerHour(1, admit_burst), gcraPerHour(1, unknown_burst));
    setRule(1, r);
    auto before = counters({1});
    EXPECT_EQ(uint64_t(flood(0, sources)), admit_burst + unknown_burst);
    auto d = counters({1}) - before;
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), admit_burst + unknown_burst);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_UNKNOWN), sources - admit_burst - unknown_burst);
    EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), sources - admit_burst);
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), admit_burst);
    EXPECT_EQ(countKeys4(), admit_burst);
    EXPECT_EQ(usedPackets(admitState(1).unknown, r.unknown), unknown_burst);

    r.on_exceed = RL_EXCEED_MONITOR;
    setRule(1, r);
    before = counters({1});
    EXPECT_EQ(flood(sources, 10), 10);
    d = counters({1}) - before;
    EXPECT_EQ(d.packets(1, RL_REASON_SHADOW_UNKNOWN), 10u);
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 0u);
}

// The ceiling comes last: an unknown packet the ceiling refuses gives its
// unknown charge back.
TEST_F(Admission, GlobalCeilingAppliesAndRefundsUnknown) {
    rl_rule r = admitRule(5, gcraPerHour(1, 1), gcraPerHour(1, 100));
    r.has_global = 1;
    r.global = gcraPerHour(1, 3);
    setRule(1, r);
    auto before = counters({1});
    EXPECT_EQ(flood(0, 10), 3);
    auto d = counters({1}) - before;
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), 3u);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_GLOBAL), 7u);
    EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), 9u);
    // 1 admitted (own key), 2 on the unknown meter, 7 refunded to it
    EXPECT_EQ(usedPackets(admitState(1).unknown, r.unknown), 2u);
}

// A refused /32 is still charged to the tiers whose key exists (its /24), and
// to the unknown meter only when those conform.
TEST_F(Admission, ExistingCoarserTierStillCharged) {
    PinToCpu pin(0);  // the refusal cache is per CPU
    rl_rule r = limitRule({tier(tbPerHour(100), 32, 128), tier(tbPerHour(5), 24, 64)});
    r.admit = gcraPerHour(1, 1);
    r.unknown = gcraPerHour(1, 100);
    setRule(1, r);
    auto before = counters({1});
    int passed = 0;
    for (int i = 1; i <= 10; i++) passed += passes(udp4("198.18.30." + std::to_string(i)), 1);
    auto d = counters({1}) - before;
    EXPECT_EQ(passed, 5);  // the /24's burst: 1 admitted + 4 unknown
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_RATE), 5u);
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 2u);  // one admission: the first source's /32 and /24
    // sources 2-6 were refused admission; the /24 refused 6, and that refusal,
    // remembered for the /24 (the refusal cache's aggregate entry), refused 7-10
    // before their /32 tier was looked at
    EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), 5u);
    EXPECT_EQ(usedPackets(admitState(1).unknown, r.unknown), 4u);
    rl_state st{};
    ASSERT_TRUE(state4("198.18.30.0", 1, 1, 24, &st));
    EXPECT_EQ(usedPackets(st, r.tiers[1]), 5u);
}

// RL_CFG_F_NEW_EMPTY_PRESSURE: the k-th key admitted from a full admission
// meter of burst B starts empty iff fewer than B/2 admissions are left after
// its own, i.e. k > B/2. Off: every key starts full.
TEST_F(Admission, NewKeysStartEmptyUnderPressure) {
    const uint64_t admit_burst = 8, key_burst = 3;
    uint32_t base = 0;
    for (bool flag : {true, false}) {
        SCOPED_TRACE(flag ? "flag on" : "flag off");
        SetUp();
        rl_config cfg = defaultConfig();
        if (flag) cfg.flags |= RL_CFG_F_NEW_EMPTY_PRESSURE;
        setConfig(cfg);
        setRule(1, admitRule(key_burst, gcraPerHour(1, admit_burst), rl_meter{}));
        auto before = counters({1});
        uint64_t empty = 0;
        for (uint64_t k = 1; k <= admit_burst; k++) {
            SCOPED_TRACE("key " + std::to_string(k));
            bool pressure = flag && 2 * k > admit_burst;
            empty += pressure;
            EXPECT_EQ(uint64_t(passes(udp4(spoofed(base++)), int(key_burst))), pressure ? 0 : key_burst);
        }
        auto d = counters({1}) - before;
        EXPECT_EQ(d.g(RL_GC_KEY_INSERT), admit_burst);
        EXPECT_EQ(d.g(RL_GC_KEY_INSERT_EMPTY), empty);
    }
}

// Two CPUs flooding distinct sources: the admission and unknown meters are
// shared words updated by compare-and-swap, so neither admits more than its
// I.371 bound (burst + elapsed / T) whatever the interleaving.
TEST_F(Admission, TwoCpusNeverOverAdmit) {
    if (nCpus() < 2) GTEST_SKIP() << "needs two CPUs";
    rl_rule r = admitRule(5, gcra(1000, 50), gcra(2000, 100));
    setRule(1, r);
    std::vector<Frame> frames[2];
    for (uint32_t i = 0; i < 2 * 30000; i++) frames[i & 1].push_back(udp4(spoofed(i)));
    std::atomic<int> errors{0};
    auto before = counters({1});
    uint64_t t0 = nowNs();
    auto worker = [&](int cpu) {
        PinToCpu pin(cpu);
        for (auto& f : frames[cpu]) {
            if (nowNs() - t0 > 300 * kMsNs) break;
            if (tryRun(f) < 0) errors++;
        }
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    uint64_t elapsed_q = (nowNs() - t0) << RL_TIME_SHIFT;
    auto d = counters({1}) - before;
    auto bound = [&](const rl_meter& m) { return (elapsed_q + m.limit_q[0]) / (m.t_q16[0] >> 16); };
    uint64_t inserts = d.g(RL_GC_KEY_INSERT), unknown_passes = d.packets(1, RL_REASON_PASS) - inserts;
    EXPECT_EQ(errors.load(), 0);
    EXPECT_GT(d.g(RL_GC_ADMIT_REFUSED), 0u) << "the run must exceed the admission rate";
    EXPECT_GE(inserts, 50u);
    EXPECT_LE(inserts, bound(r.admit));
    EXPECT_GT(d.packets(1, RL_REASON_DROP_UNKNOWN), 0u);
    EXPECT_LE(unknown_passes, bound(r.unknown));
    RecordProperty("inserts", std::to_string(inserts));
    RecordProperty("unknown_passes", std::to_string(unknown_passes));
}

// ---- floods through a small table ---------------------------------------------------------

class SmallTable : public Admission {
public:
    static constexpr uint32_t kEntries = 256;
    static void SetUpTestSuite() { setUpSuite(LoadOptions{.state_entries = kEntries}); }

protected:
    static constexpr uint64_t kBurst = 20, kUsedBefore = 5;
    static constexpr uint32_t kFlood = 5000;  // distinct sources, one packet each
    const char* established_[3] = {"198.18.1.1", "198.18.1.2", "198.18.1.3"};

    // Established clients use kUsedBefore of kBurst, a spoofed flood of kFlood
    // sources follows, then each client sends 2 * kBurst: returns their passes.
    std::vector<int> establishFloodReplay(const rl_rule& r, Counters* flood_delta) {
        setRule(1, r);
        for (auto* a : established_) EXPECT_EQ(passes(udp4(a), int(kUsedBefore)), int(kUsedBefore));
        auto before = counters({1});
        flood(0, kFlood);
        *flood_delta = counters({1}) - before;
        std::vector<int> out;
        for (auto* a : established_) out.push_back(passes(udp4(a), int(2 * kBurst)));
        return out;
    }
};

// Keys established before a spoofed flood keep their exact allowance: the flood
// inserts only what admission allows, so it cannot evict them.
TEST_F(SmallTable, EstablishedKeysKeepExactAllowanceDuringSpoofedFlood) {
    const uint64_t admit_burst = 4, unknown_burst = 10;
    rl_rule r = admitRule(kBurst, gcraPerHour(1, admit_burst), gcraPerHour(1, unknown_burst));
    r.has_global = 1;
    r.global = gcraPerHour(1, 1000);
    Counters d;
    auto replay = establishFloodReplay(r, &d);
    for (int p : replay) EXPECT_EQ(uint64_t(p), kBurst - kUsedBefore);
    const uint64_t admitted = admit_burst - 3;  // three admissions went to the clients
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), admitted);
    EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), kFlood - admitted);
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), admitted + unknown_burst);
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_UNKNOWN), kFlood - admitted - unknown_burst);
    EXPECT_EQ(countKeys4(), 3 + admitted);
    RecordProperty("flood_key_inserts", int(d.g(RL_GC_KEY_INSERT)));
}

// The problem admission control solves, observed: without it the same flood
// churns the table (one insert per packet) and the evicted clients come back
// with a full bucket.
TEST_F(SmallTable, WithoutAdmissionFloodEvictsAndRefills) {
    Counters d;
    auto replay = establishFloodReplay(admitRule(kBurst, rl_meter{}, rl_meter{}), &d);
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), kFlood);
    EXPECT_LE(countKeys4(), size_t(kEntries));
    int refilled = 0;
    for (int p : replay) refilled += uint64_t(p) == kBurst;
    EXPECT_GE(refilled, 1) << "no established key was evicted by " << kFlood << " inserts";
    RecordProperty("flood_key_inserts", int(d.g(RL_GC_KEY_INSERT)));
    RecordProperty("clients_refilled", refilled);
}

// Eviction under pressure: a key evicted before it refilled comes back empty
// while the admission meter is under pressure (flag on), full otherwise.
TEST_F(SmallTable, EvictedKeyComesBackEmptyUnderPressure) {
    // the flood: 3 * kEntries admitted keys evict the victim and use more than
    // half of the admit burst; the victim's return is still admitted
    const uint64_t admit_burst = 4 * kEntries, flood_keys = 3 * kEntries;
    const char* victim = "198.18.2.1";
    uint32_t base = 0;
    for (bool flag : {true, false}) {
        SCOPED_TRACE(flag ? "flag on" : "flag off");
        SetUp();
        rl_config cfg = defaultConfig();
        if (flag) cfg.flags |= RL_CFG_F_NEW_EMPTY_PRESSURE;
        // the refusal cache would keep refusing the exhausted victim until its
        // meter is ready (an hour), evicted or not: this is about the state path
        cfg.flags |= RL_CFG_F_NO_DCACHE;
        setConfig(cfg);
        setRule(1, admitRule(kBurst, gcraPerHour(1, admit_burst), rl_meter{}));
        EXPECT_EQ(uint64_t(passes(udp4(victim), int(2 * kBurst))), kBurst);  // exhausted
        flood(base, flood_keys);
        base += flood_keys;
        rl_state st{};
        ASSERT_FALSE(state4(victim, 1, 0, 32, &st)) << "the flood did not evict the victim";
        auto before = counters({1});
        int back = passes(udp4(victim), int(kBurst));
        auto d = counters({1}) - before;
        EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 1u);
        EXPECT_EQ(uint64_t(back), flag ? 0 : kBurst);
        EXPECT_EQ(d.g(RL_GC_KEY_INSERT_EMPTY), flag ? 1u : 0u);
    }
}

}  // namespace
}  // namespace ratelimit::test
