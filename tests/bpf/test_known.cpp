// The known-key filter (rl_known, abi.h "Known-key filter") through the real
// program: a clear bit skips the state lookup, inserts set their bits, a
// rebuild follows the state tables, and verdicts do not change.
//
// Rates are per hour, so counts are exact. The refusal cache is off in this
// suite, so that every packet reaches the state lookup the filter guards.
#include <linux/bpf.h>

#include <set>
#include <string>
#include <vector>

#include "bpf/lib/known.h"
#include "bpf/support/xdp_fixture.hpp"
#include "maps/known_filter.hpp"

namespace ratelimit::test {
namespace {

// i-th spoofed source, 198.19.0.0/16.
std::string spoofed(uint32_t i) {
    return "198.19." + std::to_string((i >> 8) & 0xff) + "." + std::to_string(i & 0xff);
}

uint32_t bitOf(const std::string& addr) {
    rl_key4 k = key4(addr, 1, 0, 32);
    return rl_known_bit4(&k);
}

class Known : public XdpFixture {
protected:
    void SetUp() override {
        XdpFixture::SetUp();
        rl_config cfg = defaultConfig();
        cfg.flags |= RL_CFG_F_NO_DCACHE;
        setConfig(cfg);
        setLpm4("198.18.0.0/15", matchSet({match(1)}));
    }
    // One /32 tier, `burst` per hour; new keys admitted `admit_burst` per hour;
    // no unknown allowance (refused packets drop as `unknown`).
    void admitRule(uint64_t burst, uint64_t admit_burst) {
        rl_rule r = limitRule({tier(gcraPerHour(1, burst), 32, 128)});
        r.admit = gcraPerHour(1, admit_burst);
        setRule(1, r);
    }
    uint64_t active() const { return readKnown()->active; }
};

// Not built (active 0, as after a load): ignored, every key is looked up.
TEST_F(Known, UnbuiltFilterIsIgnored) {
    admitRule(5, 1);
    ASSERT_EQ(run(udp4(spoofed(0))), XDP_PASS);  // takes the only admission
    putState4("198.19.9.9", 1, 0, 32, rl_state{});
    EXPECT_EQ(active(), 0u);
    EXPECT_EQ(run(udp4("198.19.9.9")), XDP_PASS);
}

// A key whose bit is clear is taken for new without a lookup: with admission
// exhausted its packet drops as unknown although its state exists (the
// situation the rebuild protocol rules out); after a rebuild it is found.
TEST_F(Known, ClearBitSkipsTheStateLookupUntilARebuildSetsIt) {
    admitRule(5, 1);
    ASSERT_EQ(run(udp4(spoofed(0))), XDP_PASS);
    rebuildKnown();
    EXPECT_EQ(active(), 1u);
    putState4("198.19.9.9", 1, 0, 32, rl_state{});
    EXPECT_FALSE(knownBit(*readKnown(), 0, bitOf("198.19.9.9")));

    auto before = counters({1});
    EXPECT_EQ(run(udp4("198.19.9.9")), XDP_DROP);
    auto d = counters({1}) - before;
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_UNKNOWN), 1u);
    EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), 1u);

    rebuildKnown();
    EXPECT_EQ(active(), 2u);
    auto k = readKnown();
    EXPECT_TRUE(knownBit(*k, 1, bitOf("198.19.9.9")));
    EXPECT_TRUE(knownBit(*k, 1, bitOf(spoofed(0))));
    before = counters({1});
    EXPECT_EQ(run(udp4("198.19.9.9")), XDP_PASS);
    d = counters({1}) - before;
    EXPECT_EQ(d.packets(1, RL_REASON_PASS), 1u);
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 0u);
}

// The fast path sets a new key's bit in both halves, built or not, so that a
// rebuild zeroing either one cannot lose it; the key is then found, not re-inserted.
TEST_F(Known, InsertSetsItsBitInBothHalves) {
    admitRule(5, 100);
    ASSERT_EQ(run(udp4(spoofed(1))), XDP_PASS);  // before any build
    rebuildKnown();
    ASSERT_EQ(run(udp4(spoofed(2))), XDP_PASS);  // half 0 active
    auto k = readKnown();
    for (uint32_t i : {1u, 2u})
        for (int half : {0, 1}) EXPECT_TRUE(knownBit(*k, half, bitOf(spoofed(i)))) << i << " half " << half;

    rebuildKnown();  // half 1 active, rebuilt from the table
    EXPECT_EQ(active(), 2u);
    auto before = counters({1});
    EXPECT_EQ(run(udp4(spoofed(2))), XDP_PASS);
    auto d = counters({1}) - before;
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 0u);
    EXPECT_EQ(d.g(RL_GC_ADMIT_REFUSED), 0u);
    rl_state st{};
    ASSERT_TRUE(state4(spoofed(2), 1, 0, 32, &st));
}

// A rebuild holds exactly the bits of the keys left in the tables: those of
// evicted (here deleted) keys are gone.
TEST_F(Known, RebuildKeepsOnlyTheKeysInTheTables) {
    admitRule(5, 1000);
    rebuildKnown();
    for (uint32_t i = 0; i < 200; i++) ASSERT_EQ(run(udp4(spoofed(i))), XDP_PASS);
    for (uint32_t i = 0; i < 200; i += 2) ASSERT_TRUE(deleteState4(spoofed(i), 1, 0, 32));
    rebuildKnown();
    ASSERT_EQ(active(), 2u);

    std::set<uint32_t> want;
    for (uint32_t i = 1; i < 200; i += 2) want.insert(bitOf(spoofed(i)));
    auto k = readKnown();
    size_t set = 0;
    for (uint32_t w = 0; w < RL_KNOWN_WORDS; w++) set += static_cast<size_t>(__builtin_popcountll(k->words[1][w]));
    EXPECT_EQ(set, want.size());
    for (uint32_t b : want) EXPECT_TRUE(knownBit(*k, 1, b));
}

// With the filter built or not, the same packets get the same verdicts and
// counters: established keys keep their allowance, spoofed ones are refused.
TEST_F(Known, SameVerdictsBuiltOrNot) {
    std::vector<int> verdicts[2];
    Counters deltas[2];
    for (int built : {0, 1}) {
        SCOPED_TRACE(built ? "built" : "not built");
        SetUp();
        admitRule(3, 20);
        if (built) rebuildKnown();
        auto before = counters({1});
        for (uint32_t round = 0; round < 5; round++)
            for (uint32_t i = 0; i < 60; i++) verdicts[built].push_back(run(udp4(spoofed(i))));
        deltas[built] = counters({1}) - before;
        EXPECT_EQ(countKeys4(), 20u);
    }
    EXPECT_EQ(verdicts[0], verdicts[1]);
    for (uint32_t reason = 0; reason < RL_REASON__MAX; reason++)
        EXPECT_EQ(deltas[0].packets(1, reason), deltas[1].packets(1, reason)) << "reason " << reason;
    for (uint32_t g : {RL_GC_KEY_INSERT, RL_GC_ADMIT_REFUSED})
        EXPECT_EQ(deltas[0].g(g), deltas[1].g(g)) << "gcounter " << g;
    // 20 keys x 3 packets pass; the rest (40 spoofed x 5, 20 x 2 over burst) drop
    EXPECT_EQ(deltas[1].packets(1, RL_REASON_PASS), 60u);
    EXPECT_EQ(deltas[1].packets(1, RL_REASON_DROP_UNKNOWN), 200u);
    EXPECT_EQ(deltas[1].packets(1, RL_REASON_DROP_RATE), 40u);
}

// KnownFilter::maintain builds a filter that is not built, then leaves it
// alone for KnownFilter::kRebuildEvery.
TEST_F(Known, MaintainBuildsOnceThenWaits) {
    auto kf = KnownFilter::open(knownFds());
    ASSERT_TRUE(kf) << kf.error().message();
    auto t0 = KnownFilter::Clock::now();
    EXPECT_FALSE((*kf)->built());
    auto r = (*kf)->maintain(t0);
    ASSERT_TRUE(r);
    EXPECT_TRUE(*r);
    EXPECT_TRUE((*kf)->built());
    EXPECT_EQ(active(), 1u);
    r = (*kf)->maintain(t0 + KnownFilter::kRebuildEvery / 2);
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);
    // an empty table: nothing to shed, no rebuild even after the period
    r = (*kf)->maintain(t0 + 2 * KnownFilter::kRebuildEvery);
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);
    EXPECT_EQ(active(), 1u);
}

}  // namespace
}  // namespace ratelimit::test
