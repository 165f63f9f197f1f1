// The LPM hint (abi.h): every source inside a CIDR prefix finds its bit set
// (else the XDP program would skip the LPM lookup and misclassify it), and
// sources far from every prefix mostly do not (else the hint saves nothing).
#include <gtest/gtest.h>

#include <random>

#include "bpf/lib/lpm_hint.h"
#include "rules/lpm_hint.hpp"

namespace ratelimit {
namespace {

bool bitSet(const LpmHint& h, uint32_t bitmap, uint32_t bucket) {
    return h.words.at(rl_hint_word(bitmap, bucket)) & rl_hint_bit(bucket);
}
// What the XDP program asks: may a prefix hold this source?
bool mayMatch4(const LpmHint& h, const std::array<uint8_t, 4>& a) {
    return !h.v4 || bitSet(h, RL_HINT_V4, rl_hint4_bucket(a.data()));
}
bool mayMatch6(const LpmHint& h, const std::array<uint8_t, 16>& a) {
    return !h.v6 || bitSet(h, RL_HINT_V6_48, rl_hint6_bucket48(a.data())) ||
           bitSet(h, RL_HINT_V6_32, rl_hint6_bucket32(a.data()));
}

template <size_t N>
std::array<uint8_t, N> inside(std::array<uint8_t, N> prefix, uint32_t plen, std::mt19937_64& rng) {
    for (uint32_t b = plen; b < N * 8; b++) {
        uint8_t bit = 0x80 >> (b % 8);
        prefix[b / 8] = (rng() & 1) ? (prefix[b / 8] | bit) : (prefix[b / 8] & ~bit);
    }
    return prefix;
}

template <size_t N>
std::array<uint8_t, N> randomAddr(std::mt19937_64& rng) {
    std::array<uint8_t, N> a;
    for (auto& b : a) b = static_cast<uint8_t>(rng());
    return a;
}

TEST(LpmHint, EverySourceInsideAPrefixFindsItsBit) {
    std::mt19937_64 rng(11);
    for (int round = 0; round < 50; round++) {
        std::vector<std::pair<uint32_t, std::array<uint8_t, 4>>> v4;
        std::vector<std::pair<uint32_t, std::array<uint8_t, 16>>> v6;
        for (int i = 0; i < 20; i++) {
            uint32_t p4 = 4 + rng() % 29;                       // /4 .. /32
            uint32_t p6 = RL_HINT6_MIN_PLEN + rng() % (129 - RL_HINT6_MIN_PLEN);
            v4.push_back({p4, inside(randomAddr<4>(rng), p4, rng)});
            v6.push_back({p6, inside(randomAddr<16>(rng), p6, rng)});
        }
        LpmHint h = buildLpmHint(v4, v6);
        ASSERT_TRUE(h.v4);
        ASSERT_TRUE(h.v6);
        for (const auto& [plen, a] : v4)
            for (int k = 0; k < 20; k++) ASSERT_TRUE(mayMatch4(h, inside(a, plen, rng))) << "/" << plen;
        for (const auto& [plen, a] : v6)
            for (int k = 0; k < 20; k++) ASSERT_TRUE(mayMatch6(h, inside(a, plen, rng))) << "/" << plen;
    }
}

TEST(LpmHint, ShortPrefixesAreCoveredOrTurnTheHintOff) {
    LpmHint h = buildLpmHint({{0, {0, 0, 0, 0}}}, {{RL_HINT6_MIN_PLEN - 1, {0x20, 0x01}}});
    EXPECT_TRUE(h.v4);  // /0 sets every IPv4 bucket
    std::mt19937_64 rng(3);
    for (int k = 0; k < 1000; k++) EXPECT_TRUE(mayMatch4(h, randomAddr<4>(rng)));
    EXPECT_FALSE(h.v6);  // shorter than the IPv6 hint can summarise: always look up
}

TEST(LpmHint, SourcesOutsideEveryPrefixMostlySkipTheLookup) {
    // 100 rules like the bench's: 10.i.0.0/16 and 2001:db8:i::/48
    std::vector<std::pair<uint32_t, std::array<uint8_t, 4>>> v4;
    std::vector<std::pair<uint32_t, std::array<uint8_t, 16>>> v6;
    for (uint8_t i = 0; i < 100; i++) {
        v4.push_back({16, {10, i, 0, 0}});
        v6.push_back({48, {0x20, 0x01, 0x0d, 0xb8, 0, i}});
    }
    LpmHint h = buildLpmHint(v4, v6);
    EXPECT_FALSE(mayMatch4(h, {100, 64, 1, 2}));
    EXPECT_FALSE(mayMatch4(h, {10, 100, 0, 1}));
    EXPECT_TRUE(mayMatch4(h, {10, 99, 7, 7}));
    std::mt19937_64 rng(5);
    int hits = 0;
    for (int k = 0; k < 10000; k++) {
        std::array<uint8_t, 16> a = randomAddr<16>(rng);
        hits += mayMatch6(h, a);
    }
    EXPECT_LT(hits, 100);  // ~100 of 65536 buckets set: false positives stay rare
    std::array<uint8_t, 16> src{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff};
    EXPECT_FALSE(mayMatch6(h, src));
}

}  // namespace
}  // namespace ratelimit
