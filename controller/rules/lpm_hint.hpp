// The LPM hint (abi.h "LPM hint"): which source buckets a CIDR rule can match,
// so that the XDP program skips the LPM lookup for the rest.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "ratelimit/abi.h"

namespace ratelimit {

struct LpmHint {
    std::vector<uint64_t> words = std::vector<uint64_t>(RL_HINT_ENTRIES, 0);  // rl_lpmhint
    bool v4 = true;  // RL_CFG_F_HINT4: every IPv4 prefix is summarised
    bool v6 = true;  // RL_CFG_F_HINT6: every IPv6 prefix is at least /RL_HINT6_MIN_PLEN
};

// Bits of every prefix: a source inside a prefix always finds its bit set.
LpmHint buildLpmHint(const std::vector<std::pair<uint32_t, std::array<uint8_t, 4>>>& v4,
                     const std::vector<std::pair<uint32_t, std::array<uint8_t, 16>>>& v6);

}  // namespace ratelimit
