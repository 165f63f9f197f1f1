// Derives the fast path's rl_meter (virtual-time form) from operator units.
// The one place that turns "1000/s burst 2000" into q units; used by the
// daemon and by the tests that compare the meters with reference models.
#pragma once

#include <cstdint>

#include "ratelimit/abi.h"
#include "util/result.hpp"

namespace ratelimit {

// `count` events per `period_ns`, e.g. 6000 per 60e9 ns.
struct Rate {
    uint64_t count = 0;
    uint64_t period_ns = 0;
};

struct TokenBucketSpec {
    Rate packets;              // count == 0: no packet dimension
    uint64_t burst_packets = 0;
    Rate bytes;                // count == 0: no byte dimension
    uint64_t burst_bytes = 0;
};

struct GcraSpec {
    Rate packets;
    uint64_t burst = 1;        // back-to-back packets from a full state: tau = (burst-1)*T
};

struct WindowSpec {
    bool sliding = true;
    uint64_t limit = 0;        // packets per window
    uint64_t window_ns = 0;
};

// Accepted ranges (validated, with a message naming the problem).
inline constexpr uint64_t kMinRatePerHour = 1;                 // 1 packet/hour
inline constexpr uint64_t kMaxPacketsPerSec = 1'000'000'000;   // 1 Gpps
inline constexpr uint64_t kMinBytesPerSec = 125;               // 1 kbit/s
// 400 Gbit/s: keeps the per-byte cost >= 1 q (t_q16 >= 2^16), so one more
// byte always costs at least one more q and a packet larger than the byte
// burst can never conform; also bounds the round-down to < 1 q per packet.
inline constexpr uint64_t kMaxBytesPerSec = 50'000'000'000;    // 400 Gbit/s
inline constexpr uint64_t kMinWindowNs = 1'000'000;            // 1 ms
inline constexpr uint64_t kMaxWindowNs = 86'400'000'000'000;   // 1 day

Result<rl_meter> tokenBucketMeter(const TokenBucketSpec& spec);
Result<rl_meter> gcraMeter(const GcraSpec& spec);
Result<rl_meter> windowMeter(const WindowSpec& spec);

// q units per event (<<16 fixed point) for a rate; validated by the callers above.
uint64_t tQ16(const Rate& rate);

}  // namespace ratelimit
