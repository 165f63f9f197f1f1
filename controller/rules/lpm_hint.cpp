#include "rules/lpm_hint.hpp"

#include <cstddef>

#include "bpf/lib/lpm_hint.h"

namespace ratelimit {
namespace {

void setBit(LpmHint& h, uint32_t bitmap, uint32_t bucket) {
    h.words[rl_hint_word(bitmap, bucket)] |= rl_hint_bit(bucket);
}

// Sets the bit of every bucket under `a`/plen, where a bucket is the top `bits`
// bits of the address (plen <= bits) and `bucket` maps those bits to a bit.
template <std::size_t N, typename Bucket>
void setRange(LpmHint& h, uint32_t bitmap, std::array<uint8_t, N> a, uint32_t plen, uint32_t bits,
              Bucket bucket) {
    const uint64_t n = 1ull << (bits - plen);
    for (uint64_t i = 0; i < n; i++) {
        // write i into bits [plen, bits) of a, most significant first
        for (uint32_t b = plen; b < bits; b++) {
            uint32_t byte = b / 8, shift = 7 - b % 8;
            uint8_t v = (i >> (bits - 1 - b)) & 1;
            a[byte] = static_cast<uint8_t>((a[byte] & ~(1u << shift)) | (v << shift));
        }
        setBit(h, bitmap, bucket(a.data()));
    }
}

}  // namespace

LpmHint buildLpmHint(const std::vector<std::pair<uint32_t, std::array<uint8_t, 4>>>& v4,
                     const std::vector<std::pair<uint32_t, std::array<uint8_t, 16>>>& v6) {
    LpmHint h;
    for (const auto& [plen, a] : v4) {
        if (plen >= 16)
            setBit(h, RL_HINT_V4, rl_hint4_bucket(a.data()));
        else
            setRange(h, RL_HINT_V4, a, plen, 16, [](const uint8_t* p) { return rl_hint4_bucket(p); });
    }
    for (const auto& [plen, a] : v6) {
        if (plen >= 48)
            setBit(h, RL_HINT_V6_48, rl_hint6_bucket48(a.data()));
        else if (plen >= 32)
            setBit(h, RL_HINT_V6_32, rl_hint6_bucket32(a.data()));
        else if (plen >= RL_HINT6_MIN_PLEN)
            setRange(h, RL_HINT_V6_32, a, plen, 32, [](const uint8_t* p) { return rl_hint6_bucket32(p); });
        else
            h.v6 = false;
    }
    return h;
}

}  // namespace ratelimit
