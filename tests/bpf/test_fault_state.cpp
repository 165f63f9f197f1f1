// Fault tolerance of the fast path's state: the penalty box is authoritative
// even when a key's meter state is gone (evicted by the LRU under pressure,
// or rl_state4 discarded by `ratelimitd --force-reset` while rl_block4 was
// kept). Found by tests/integration/test_fault_corrupt_pins.sh: before the
// fix a new state entry started without RL_ST_F_BLOCKED and the block entry
// was never consulted, so a blocked source passed again.
#include <linux/bpf.h>

#include "bpf/support/xdp_fixture.hpp"

namespace ratelimit::test {
namespace {


TEST_F(XdpFixture, PenaltyBoxOutlivesKeyState) {
    const uint64_t block_ns = 3600ull * RL_NSEC_PER_SEC;  // far longer than the test
    setRule(1, limitRule({tier(gcra(5, 2), 32, 128)}, RL_EXCEED_BLOCK, block_ns));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame f = udp4("198.18.0.9");
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_DROP);  // exceeds: blocked
    rl_block b{};
    ASSERT_TRUE(block4("198.18.0.9", 1, 0, 32, &b));

    // the state is gone: the packet is still dropped as blocked, and a
    // blocked key gets no new state (nor an admission charge) until the
    // block expires
    ASSERT_TRUE(deleteState4("198.18.0.9", 1, 0, 32));
    for (int round = 0; round < 3; round++) {
        SCOPED_TRACE("state removed, packet " + std::to_string(round));
        auto before = counters({1});
        EXPECT_EQ(run(f), XDP_DROP);
        auto d = counters({1}) - before;
        EXPECT_EQ(d.packets(1, RL_REASON_DROP_BLOCKED), 1u);
        EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 0u) << "no state is created for a blocked key";
        rl_state st{};
        EXPECT_FALSE(state4("198.18.0.9", 1, 0, 32, &st));
        EXPECT_TRUE(block4("198.18.0.9", 1, 0, 32, &b)) << "the block entry stays until it expires";
    }
    // another key of the same rule is not affected
    EXPECT_EQ(run(udp4("198.18.0.10")), XDP_PASS);
}

// Without RL_CFG_F_BLOCKS (no rule blocks, no block left: the daemon's call) a
// key without state does not look up the penalty box: the block entry planted
// here is not consulted, the key gets fresh state and passes.
TEST_F(XdpFixture, StatelessKeysSkipThePenaltyBoxWithoutTheBlocksFlag) {
    const uint64_t block_ns = 3600ull * RL_NSEC_PER_SEC;
    setRule(1, limitRule({tier(gcra(5, 2), 32, 128)}, RL_EXCEED_BLOCK, block_ns));
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame f = udp4("198.18.0.11");
    for (int i = 0; i < 3; i++) run(f);  // the third exceeds: blocked
    rl_block b{};
    ASSERT_TRUE(block4("198.18.0.11", 1, 0, 32, &b));
    ASSERT_TRUE(deleteState4("198.18.0.11", 1, 0, 32));
    rl_config c = defaultConfig();
    c.flags &= ~RL_CFG_F_BLOCKS;
    setConfig(c);
    auto before = counters({1});
    EXPECT_EQ(run(f), XDP_PASS);
    auto d = counters({1}) - before;
    EXPECT_EQ(d.g(RL_GC_KEY_INSERT), 1u);
    setConfig(defaultConfig());  // with the flag the block is found again
    ASSERT_TRUE(deleteState4("198.18.0.11", 1, 0, 32));
    EXPECT_EQ(run(f), XDP_DROP);
}

// A generation bump (the rule's meter changed incompatibly, or the daemon lost
// rl_rules and cannot tell) restarts the key's meter but not its penalty box.
TEST_F(XdpFixture, PenaltyBoxSurvivesAGenerationRestart) {
    const uint64_t block_ns = 3600ull * RL_NSEC_PER_SEC;
    rl_rule r = limitRule({tier(gcra(5, 2), 32, 128)}, RL_EXCEED_BLOCK, block_ns);
    setRule(1, r);
    setLpm4("198.18.0.0/16", matchSet({match(1)}));
    Frame f = udp4("198.18.0.11");
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_PASS);
    EXPECT_EQ(run(f), XDP_DROP);
    r.generation++;
    r.tiers[0] = tier(window(true, 1000, 1000 * kMsNs), 32, 128);  // another algorithm
    setRule(1, r);
    auto before = counters({1});
    EXPECT_EQ(run(f), XDP_DROP);
    auto d = counters({1}) - before;
    EXPECT_EQ(d.packets(1, RL_REASON_DROP_BLOCKED), 1u);
    rl_state st{};
    ASSERT_TRUE(state4("198.18.0.11", 1, 0, 32, &st));
    EXPECT_EQ(RL_ST_ALGO(st.meta), RL_ALGO_SLIDING_WINDOW) << "the meter itself restarted";
    // a key that was never blocked meters under the new rule at once
    EXPECT_EQ(run(udp4("198.18.0.12")), XDP_PASS);
}

}  // namespace
}  // namespace ratelimit::test
