// The known-key filter's bit (bpf/lib/known.h): spoofed floods use runs of
// consecutive addresses, and a filter whose bits collide on them would let
// most of such a flood through to the state lookup it is there to skip.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "bpf/lib/known.h"

namespace ratelimit {
namespace {

// Distinct bits over what a uniform hash would give for n keys: m(1 - e^(-n/m)).
double spreadVsUniform(const std::vector<uint32_t>& bits) {
    std::vector<bool> seen(1u << RL_KNOWN_BITS);
    size_t distinct = 0;
    for (uint32_t b : bits) {
        EXPECT_LT(b, 1u << RL_KNOWN_BITS);
        if (!seen[b]) distinct++, seen[b] = true;
    }
    double m = 1u << RL_KNOWN_BITS, n = static_cast<double>(bits.size());
    return static_cast<double>(distinct) / (m * (1 - std::exp(-n / m)));
}

TEST(KnownBit, ConsecutiveIpv4SourcesSpreadLikeUniform) {
    std::vector<uint32_t> bits;
    for (uint32_t i = 0; i < 131072; i++) {  // the whole 198.18.0.0/15, one /32 key each
        rl_key4 k{};
        uint32_t a = htonl(0xc6120000u + i);
        std::memcpy(&k.addr, &a, 4);
        k.rule_id = 0;
        k.prefix_len = 32;
        bits.push_back(rl_known_bit4(&k));
    }
    EXPECT_GT(spreadVsUniform(bits), 0.98);
}

TEST(KnownBit, ConsecutiveIpv6SourcesSpreadLikeUniform) {
    std::vector<uint32_t> bits;
    for (uint32_t i = 0; i < 1000000; i++) {  // 2001:db8::/96 + i, /128 keys
        rl_key6 k{};
        k.addr[0] = 0x20, k.addr[1] = 0x01, k.addr[2] = 0x0d, k.addr[3] = 0xb8;
        k.addr[12] = static_cast<uint8_t>(i >> 24), k.addr[13] = static_cast<uint8_t>(i >> 16);
        k.addr[14] = static_cast<uint8_t>(i >> 8), k.addr[15] = static_cast<uint8_t>(i);
        k.prefix_len = 128;
        bits.push_back(rl_known_bit6(&k));
    }
    EXPECT_GT(spreadVsUniform(bits), 0.98);
}

// Keys that differ only in rule, tier or prefix length are different keys.
TEST(KnownBit, RuleTierAndPrefixAreHashed) {
    std::vector<uint32_t> bits;
    for (uint16_t rule = 0; rule < 64; rule++)
        for (uint8_t tier = 0; tier < RL_MAX_TIERS; tier++)
            for (uint8_t plen = 8; plen <= 32; plen += 8) {
                rl_key4 k{};
                k.rule_id = rule, k.tier = tier, k.prefix_len = plen;
                bits.push_back(rl_known_bit4(&k));
            }
    EXPECT_GT(spreadVsUniform(bits), 0.98);
}

}  // namespace
}  // namespace ratelimit
