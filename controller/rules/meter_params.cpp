#include "rules/meter_params.hpp"

#include <string>

#include "bpf/lib/vtime.h"

namespace ratelimit {
namespace {

using u128 = unsigned __int128;

// see kMaxBytesPerSec: at the fastest byte rate a byte still costs >= 1 q
static_assert((RL_NSEC_PER_SEC << (RL_TIME_SHIFT + RL_Q16_SHIFT)) / kMaxBytesPerSec >= (1ull << RL_Q16_SHIFT));

// events per second as a rational, compared without division
bool rateBelow(const Rate& r, uint64_t per_sec_num, uint64_t per_sec_den) {
    // r.count / r.period_ns  <  per_sec_num / (per_sec_den * 1e9)
    return (u128)r.count * per_sec_den * RL_NSEC_PER_SEC < (u128)per_sec_num * r.period_ns;
}
bool rateAbove(const Rate& r, uint64_t per_sec_num, uint64_t per_sec_den) {
    return (u128)r.count * per_sec_den * RL_NSEC_PER_SEC > (u128)per_sec_num * r.period_ns;
}

Status checkRate(const Rate& r, bool bytes, const char* what) {
    if (r.count == 0 || r.period_ns == 0)
        return invalid(what, "rate must be positive");
    if (bytes) {
        if (rateBelow(r, kMinBytesPerSec, 1))
            return invalid(what, "byte rate below the minimum of 1kbit/s");
        if (rateAbove(r, kMaxBytesPerSec, 1))
            return invalid(what, "byte rate above the maximum of 400Gbit/s");
    } else {
        if (rateBelow(r, kMinRatePerHour, 3600))
            return invalid(what, "packet rate below the minimum of 1/hour");
        if (rateAbove(r, kMaxPacketsPerSec, 1))
            return invalid(what, "packet rate above the maximum of 1000000000/s");
    }
    return {};
}

Status setDim(rl_meter& m, int dim, const Rate& r, uint64_t burst, bool bytes, const char* what) {
    if (auto s = checkRate(r, bytes, what); !s) return s;
    if (burst == 0) return invalid(what, "burst must be at least 1");
    uint64_t t = tQ16(r);
    // packets: burst whole emission intervals, so exactly `burst` back-to-back
    // packets conform; bytes: burst bytes at the fixed-point byte cost
    u128 limit = bytes ? ((u128)burst * t) >> RL_Q16_SHIFT : (u128)burst * (t >> RL_Q16_SHIFT);
    if (limit > RL_MAX_LIMIT_Q)
        return invalid(what, "burst too large for the rate (burst/rate must stay below 2^54 ns)");
    m.t_q16[dim] = t;
    m.limit_q[dim] = (uint64_t)limit;
    return {};
}

}  // namespace

uint64_t tQ16(const Rate& rate) {
    u128 num = (u128)rate.period_ns << (RL_TIME_SHIFT + RL_Q16_SHIFT);
    return (uint64_t)(num / rate.count);
}

Result<rl_meter> tokenBucketMeter(const TokenBucketSpec& spec) {
    rl_meter m{};
    m.algo = RL_ALGO_TOKEN_BUCKET;
    if (spec.packets.count == 0 && spec.bytes.count == 0)
        return invalid("token bucket", "needs a packet rate, a byte rate or both");
    if (spec.packets.count) {
        if (auto s = setDim(m, 0, spec.packets, spec.burst_packets, false, "token bucket packets"); !s)
            return s.error();
        m.flags |= RL_METER_F_PKTS;
    }
    if (spec.bytes.count) {
        if (auto s = setDim(m, 1, spec.bytes, spec.burst_bytes, true, "token bucket bytes"); !s)
            return s.error();
        if (m.t_q16[1] >= RL_MAX_T_Q16_BYTES)
            return invalid("token bucket bytes", "byte rate too low");
        m.flags |= RL_METER_F_BYTES;
    }
    return m;
}

Result<rl_meter> gcraMeter(const GcraSpec& spec) {
    rl_meter m{};
    m.algo = RL_ALGO_GCRA;
    if (auto s = setDim(m, 0, spec.packets, spec.burst, false, "gcra"); !s) return s.error();
    m.flags = RL_METER_F_PKTS;
    return m;
}

Result<rl_meter> windowMeter(const WindowSpec& spec) {
    rl_meter m{};
    m.algo = spec.sliding ? RL_ALGO_SLIDING_WINDOW : RL_ALGO_FIXED_WINDOW;
    if (spec.limit == 0) return invalid("window", "limit must be at least 1");
    if (spec.limit > UINT32_MAX - 1) return invalid("window", "limit must be below 2^32");
    if (spec.window_ns < kMinWindowNs) return invalid("window", "window must be at least 1ms");
    if (spec.window_ns > kMaxWindowNs) return invalid("window", "window must be at most 1 day");
    if ((u128)spec.limit * spec.window_ns >= ((u128)1 << 63))
        return invalid("window", "limit * window too large (limit x window_ns must stay below 2^63)");
    m.window_ns = spec.window_ns;
    m.window_limit = spec.limit;
    return m;
}

}  // namespace ratelimit
