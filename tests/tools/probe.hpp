// Payload of every lab test packet (rl_sender -> rl_receiver), host byte order
// (both ends run on the same machine).
#pragma once

#include <cstdint>

namespace ratelimit::lab {

inline constexpr uint32_t kProbeMagic = 0x524c4142;  // "RLAB"

struct Probe {
    uint32_t magic;
    uint32_t src_be;    // sender's bound source address, network order
    uint64_t seq;       // per source, from 0, in send order
    uint64_t send_ns;   // CLOCK_MONOTONIC just before sendto()
};
static_assert(sizeof(Probe) == 24);

}  // namespace ratelimit::lab
