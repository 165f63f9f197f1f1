#include <linux/bpf.h>

#include <map>
#include <string>

#include "bpf/support/xdp_fixture.hpp"

namespace ratelimit::test {
namespace {

class Smoke : public XdpFixture {};

TEST_F(Smoke, UdpDefaultRuleAllowsAndCounts) {
    Frame f = PacketBuilder().ipv4("198.18.0.1", "198.18.0.2").udp(1000, 53).payload(10).build();
    auto before = counters();
    uint64_t t0 = nowNs();
    for (int i = 0; i < 200; i++) EXPECT_EQ(run(f), XDP_PASS);
    uint64_t t1 = nowNs();
    auto d = counters() - before;
    EXPECT_EQ(d.packets(RL_RULE_DEFAULT, RL_REASON_ALLOW), 200u);
    printf("200 single runs: %.3f ms\n", (t1 - t0) / 1e6);
}

}  // namespace
}  // namespace ratelimit::test

namespace ratelimit::test {
namespace {

// The verifier's budget for rl_xdp: reported, and held well under the
// kernel's 1M processed-instruction limit so rule growth does not hit it.
TEST(Verifier, ProcessedInstructionsWellUnderLimit) {
    std::string line = verifierStatsLine();
    ASSERT_FALSE(line.empty());
    printf("rl_xdp verifier: %s\n", line.c_str());
    RecordProperty("verifier", line);
    unsigned long insns = std::stoul(line.substr(std::string("processed ").size()));
    EXPECT_LT(insns, 250000ul);
}

// Every map access of rl_xdp names its map at its call site, so the verifier
// inlines the hash lookups and calls updates and deletes directly: no generic
// bpf_map_*_elem helper, which would call the map through its ops (an indirect
// call) on every packet. A map pointer chosen into a variable, or two calls
// that clang merges into one, would bring one back.
TEST(Verifier, MapAccessesAreInlinedOrDirect) {
    std::map<std::string, int> calls = xlatedHelperCalls();
    std::string all;
    for (const auto& [name, n] : calls) all += name + " x" + std::to_string(n) + ", ";
    printf("rl_xdp helper calls: %s\n", all.c_str());
    EXPECT_EQ(calls.count("bpf_map_lookup_elem"), 0u) << all;
    EXPECT_EQ(calls.count("bpf_map_update_elem"), 0u) << all;
    EXPECT_EQ(calls.count("bpf_map_delete_elem"), 0u) << all;
    // the decoding found what the state lookups became
    EXPECT_GT(calls["__htab_map_lookup_elem"], 0) << all;
    EXPECT_GT(calls["htab_lru_map_update_elem"], 0) << all;
}

}  // namespace
}  // namespace ratelimit::test
