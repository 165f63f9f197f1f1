// The LPM hint through the real program (abi.h "LPM hint"): with the hint
// written as the daemon writes it, every source gets the same rule as with a
// plain LPM lookup; and the program does trust the hint (a source whose bit
// is clear takes the default rule without looking at rl_lpm4/6).
#include <linux/bpf.h>
#include <netinet/in.h>

#include "bpf/support/xdp_fixture.hpp"
#include "rules/lpm_hint.hpp"

namespace ratelimit::test {
namespace {


std::pair<std::vector<uint8_t>, uint32_t> cidrOf(const std::string& c) {
    auto slash = c.find('/');
    return {parseAddr(c.substr(0, slash)), static_cast<uint32_t>(std::stoul(c.substr(slash + 1)))};
}

class Hint : public XdpFixture {
protected:
    // Deny rule 1 on these prefixes, in rl_lpm4/6 and (if `hint`) in the hint.
    void setUp(bool hint) {
        setRule(1, actionRule(RL_ACT_DENY));
        const std::vector<std::string> v4 = {"198.18.0.0/16", "198.19.4.0/24", "198.19.9.9/32", "203.0.0.0/12"};
        const std::vector<std::string> v6 = {"2001:db8:1::/48", "2001:db8:2:3::/64", "2001:db9::/32", "2001:ff00::/24"};
        std::vector<std::pair<uint32_t, std::array<uint8_t, 4>>> h4;
        std::vector<std::pair<uint32_t, std::array<uint8_t, 16>>> h6;
        for (const auto& c : v4) {
            setLpm4(c, matchSet({match(1)}));
            auto [a, plen] = cidrOf(c);
            std::array<uint8_t, 4> b;
            std::copy(a.begin(), a.end(), b.begin());
            h4.push_back({plen, b});
        }
        for (const auto& c : v6) {
            setLpm6(c, matchSet({match(1)}));
            auto [a, plen] = cidrOf(c);
            std::array<uint8_t, 16> b;
            std::copy(a.begin(), a.end(), b.begin());
            h6.push_back({plen, b});
        }
        LpmHint h = buildLpmHint(h4, h6);
        ASSERT_TRUE(h.v4 && h.v6);
        setHintWords(h.words);
        rl_config c = defaultConfig();
        if (hint) c.flags |= RL_CFG_F_HINT4 | RL_CFG_F_HINT6;
        setConfig(c);
    }
};

const std::vector<std::pair<std::string, int>> kCases4 = {
    {"198.18.0.1", XDP_DROP}, {"198.18.255.254", XDP_DROP}, {"198.19.4.77", XDP_DROP},
    {"198.19.9.9", XDP_DROP}, {"198.19.9.8", XDP_PASS},    {"198.19.5.1", XDP_PASS},
    {"203.15.1.1", XDP_DROP}, {"203.16.0.1", XDP_PASS},    {"10.0.0.1", XDP_PASS}};
const std::vector<std::pair<std::string, int>> kCases6 = {
    {"2001:db8:1::5", XDP_DROP},   {"2001:db8:1:ffff::5", XDP_DROP}, {"2001:db8:2:3::9", XDP_DROP},
    {"2001:db8:2:4::9", XDP_PASS}, {"2001:db9:abcd::1", XDP_DROP},  {"2001:ffab:ff::1", XDP_DROP},
    {"2001:ff01::1", XDP_DROP},     {"2001:fe00::1", XDP_PASS},       {"2001:db8:ffff::1", XDP_PASS}};

TEST_F(Hint, SameVerdictsWithAndWithoutTheHint) {
    for (bool hint : {false, true}) {
        SCOPED_TRACE(hint ? "hint" : "no hint");
        SetUp();
        setUp(hint);
        for (const auto& [src, want] : kCases4) EXPECT_EQ(run(udp4(src)), want) << src;
        for (const auto& [src, want] : kCases6) EXPECT_EQ(run(udp6(src)), want) << src;
    }
}

// A hint with every bit clear: the program takes the default rule for every
// source even where rl_lpm4/6 hold a prefix (proof that the lookup is skipped;
// user space never writes such a hint).
TEST_F(Hint, ClearBitSkipsTheLookup) {
    setUp(true);
    setHintWords(std::vector<uint64_t>(RL_HINT_ENTRIES, 0));
    EXPECT_EQ(run(udp4("198.18.0.1")), XDP_PASS);
    EXPECT_EQ(run(udp6("2001:db8:1::5")), XDP_PASS);
    rl_config c = defaultConfig();  // flags off: the LPM is looked up again
    setConfig(c);
    EXPECT_EQ(run(udp4("198.18.0.1")), XDP_DROP);
    EXPECT_EQ(run(udp6("2001:db8:1::5")), XDP_DROP);
}

}  // namespace
}  // namespace ratelimit::test
