// The fast path's pure meters (bpf/lib/vtime.h, token_bucket.h, gcra.h,
// window.h), parameterised by controller/rules/meter_params, against the
// reference models in reference_models.hpp, on a simulated clock.
//
// Exactness: the meters keep time in q units (1/64 ns) and round each
// packet's cost down to a whole q. For rates whose emission interval is a
// whole number of q (period_ns * 64 / count integral) the meters must make
// exactly the reference's decisions, packet for packet. For other rates the
// admitted counts are compared with a bound derived below (saturatedBounds).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bpf/lib/gcra.h"
#include "bpf/lib/token_bucket.h"
#include "bpf/lib/window.h"
#include "reference_models.hpp"
#include "rules/meter_params.hpp"

namespace ratelimit {
namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kHour = 3600 * kSec;
constexpr uint64_t kYear = 365ull * 24 * kHour;
constexpr uint64_t kQ = 1ull << RL_TIME_SHIFT;  // q per ns
constexpr uint64_t kSeeds[] = {1, 2, 3, 0x5eed, 0xdecafbad};
constexpr size_t kPacketsPerSeed = 5000;

// ---- the meters as the fast path uses them (state init mirrors meter.bpf.h) --

struct TbMeter {
    rl_meter m;
    bool start_empty = false;
    bool seen = false;
    __u64 tat[RL_TB_DIMS] = {0, 0};
    bool offer(uint64_t t_ns, uint64_t bytes) {
        const __u64 now_q = rl_now_q(t_ns);
        if (!seen) {
            seen = true;
            tat[0] = rl_vt_initial(now_q, m.limit_q[0], start_empty);
            tat[1] = rl_vt_initial(now_q, m.limit_q[1], start_empty);
        }
        return rl_tb_conform(&m, tat, now_q, bytes);
    }
};

struct GcraMeter {
    rl_meter m;
    bool start_empty = false;
    bool seen = false;
    __u64 tat = 0;
    bool offer(uint64_t t_ns) {
        const __u64 now_q = rl_now_q(t_ns);
        if (!seen) {
            seen = true;
            tat = rl_vt_initial(now_q, m.limit_q[0], start_empty);
        }
        return rl_gcra_conform(&m, &tat, now_q);
    }
};

struct WindowMeter {
    rl_meter m;
    bool start_empty = false;
    bool seen = false;
    __u64 start = 0, counts = 0;
    bool offer(uint64_t t_ns) {
        if (!seen) {
            seen = true;
            start = t_ns;
            counts = start_empty ? RL_WIN_PACK(m.window_limit, 0) : 0;
        }
        return rl_window_conform(&m, &start, &counts, t_ns);
    }
};

rl_meter mustTb(const TokenBucketSpec& spec) {
    auto r = tokenBucketMeter(spec);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : rl_meter{};
}
rl_meter mustGcra(const GcraSpec& spec) {
    auto r = gcraMeter(spec);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : rl_meter{};
}
rl_meter mustWindow(const WindowSpec& spec) {
    auto r = windowMeter(spec);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : rl_meter{};
}

// Emission interval in q is whole: period_ns * 64 / count is an integer.
bool exactInQ(const Rate& r) { return (r.period_ns * kQ) % r.count == 0; }

// ---- random arrivals ---------------------------------------------------------

struct Arrival {
    uint64_t t_ns;
    uint32_t bytes;
};

// `n` arrivals whose gaps mix back-to-back bursts, gaps that land exactly on
// multiples of the emission interval `interval_ns`, gaps around the rate,
// longer pauses and rare long idles; the mean gap is about 1.35 * interval_ns,
// so pass half the emission interval to overload the meter. backwards_pct: percentage of arrivals
// whose timestamp steps back (up to 3 intervals) from the previous one.
std::vector<Arrival> randomArrivals(uint64_t seed, size_t n, uint64_t interval_ns, uint64_t t0_ns,
                                    int backwards_pct = 0) {
    std::mt19937_64 rng(seed);
    auto uni = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
    const uint64_t iv = std::max<uint64_t>(interval_ns, 1);
    std::vector<Arrival> out;
    out.reserve(n);
    uint64_t t = t0_ns;
    for (size_t i = 0; i < n; i++) {
        const uint64_t mode = uni(0, 99);
        uint64_t gap;
        if (mode < 25) gap = uni(0, std::min<uint64_t>(3, iv / 4)); // back to back
        else if (mode < 35) gap = uni(0, 3) * iv;                  // exactly on the grid
        else if (mode < 40) gap = uni(1, 3) * iv - 1;              // one ns before it
        else if (mode < 65) gap = uni(0, iv / 4);
        else if (mode < 97) gap = uni(0, 2 * iv);
        else if (mode < 99 || uni(0, 9) != 0) gap = uni(0, 20 * iv);
        else gap = uni(0, 1000 * iv);                              // long idle, 0.1%
        t += gap;
        uint64_t at = t;
        if (backwards_pct && uni(0, 99) < (uint64_t)backwards_pct) at = t - std::min(t, uni(1, 3 * iv));
        uint32_t bytes;
        const uint64_t sm = uni(0, 9);
        if (sm < 3) bytes = 64;
        else if (sm < 5) bytes = 1500;
        else if (sm < 9) bytes = (uint32_t)uni(20, 1500);
        else bytes = (uint32_t)uni(1501, 9000);
        out.push_back({at, bytes});
    }
    return out;
}

// ---- identical decisions, exact rates -------------------------------------

struct TbCase {
    const char* name;
    Rate packets;
    uint64_t burst_packets;
    Rate bytes;
    uint64_t burst_bytes;
    bool start_empty;
    uint64_t interval_ns;  // spacing parameter of the random arrivals (about T/2: overload)
};

class TokenBucketExact : public ::testing::TestWithParam<TbCase> {};

TEST_P(TokenBucketExact, SameDecisionsAsReference) {
    const TbCase& c = GetParam();
    const rl_meter m = mustTb({c.packets, c.burst_packets, c.bytes, c.burst_bytes});
    if (c.packets.count) {
        ASSERT_TRUE(exactInQ(c.packets));
    }
    if (c.bytes.count) {
        ASSERT_TRUE(exactInQ(c.bytes));
    }
    for (uint64_t seed : kSeeds) {
        TbMeter impl{m, c.start_empty};
        ref::TokenBucket model({c.packets.count, c.packets.period_ns, c.burst_packets},
                               {c.bytes.count, c.bytes.period_ns, c.burst_bytes}, c.start_empty);
        size_t admitted = 0;
        const auto arrivals = randomArrivals(seed, kPacketsPerSeed, c.interval_ns, 1000 * kSec + seed);
        for (size_t i = 0; i < arrivals.size(); i++) {
            const bool want = model.offer(arrivals[i].t_ns, arrivals[i].bytes);
            const bool got = impl.offer(arrivals[i].t_ns, arrivals[i].bytes);
            ASSERT_EQ(got, want) << c.name << " seed " << seed << " packet " << i << " t=" << arrivals[i].t_ns
                                 << " bytes=" << arrivals[i].bytes;
            admitted += got;
        }
        // the sequences must exercise both outcomes to mean anything
        EXPECT_GT(admitted, 0u) << c.name << " seed " << seed;
        EXPECT_LT(admitted, arrivals.size()) << c.name << " seed " << seed;
    }
}

constexpr Rate kNone{0, 0};
INSTANTIATE_TEST_SUITE_P(
    Meters, TokenBucketExact,
    ::testing::Values(
        TbCase{"pps1000_b1", {1000, kSec}, 1, kNone, 0, false, 500'000},
        TbCase{"pps1000_b10", {1000, kSec}, 10, kNone, 0, false, 500'000},
        TbCase{"per_minute6000_b100", {6000, 60 * kSec}, 100, kNone, 0, false, 5'000'000},
        TbCase{"pps100M_b64", {100'000'000, kSec}, 64, kNone, 0, false, 5},
        TbCase{"pps1G_b32", {1'000'000'000, kSec}, 32, kNone, 0, false, 1},
        TbCase{"per_hour1_b3", {1, kHour}, 3, kNone, 0, false, kHour / 2},
        TbCase{"pps1000_b10_empty", {1000, kSec}, 10, kNone, 0, true, 500'000},
        TbCase{"Bps125000000_b15000", kNone, 0, {125'000'000, kSec}, 15000, false, 4'000},
        TbCase{"Bps125_b9000_1kbit", kNone, 0, {125, kSec}, 9000, false, 4 * kSec},
        TbCase{"Bps31250000_b3000_empty", kNone, 0, {31'250'000, kSec}, 3000, true, 15'000},
        TbCase{"both_pps1000_b20_Bps500000_b30000", {1000, kSec}, 20, {500'000, kSec}, 30000, false, 500'000},
        TbCase{"both_pps2000_b5_Bps1000000_b9000_empty", {2000, kSec}, 5, {1'000'000, kSec}, 9000, true, 250'000}),
    [](const auto& info) { return std::string(info.param.name); });

struct GcraCase {
    const char* name;
    Rate rate;
    uint64_t burst;
    bool start_empty;
};

class GcraExact : public ::testing::TestWithParam<GcraCase> {};

TEST_P(GcraExact, SameDecisionsAsReference) {
    const GcraCase& c = GetParam();
    const rl_meter m = mustGcra({c.rate, c.burst});
    ASSERT_TRUE(exactInQ(c.rate));
    const uint64_t interval = std::max<uint64_t>(c.rate.period_ns / c.rate.count / 2, 1);
    // I.371 places no ordering requirement on the algorithm's inputs, so the
    // meter must agree with it even when timestamps step backwards.
    for (int backwards_pct : {0, 10}) {
        for (uint64_t seed : kSeeds) {
            GcraMeter impl{m, c.start_empty};
            auto model = ref::Gcra::fromRate(c.rate.count, c.rate.period_ns, c.burst, c.start_empty);
            size_t admitted = 0;
            const auto arrivals = randomArrivals(seed, kPacketsPerSeed, interval, 5 * kSec, backwards_pct);
            for (size_t i = 0; i < arrivals.size(); i++) {
                const bool want = model.offer(arrivals[i].t_ns);
                const bool got = impl.offer(arrivals[i].t_ns);
                ASSERT_EQ(got, want) << c.name << " seed " << seed << " backwards% " << backwards_pct
                                     << " packet " << i << " t=" << arrivals[i].t_ns;
                admitted += got;
            }
            EXPECT_GT(admitted, 0u);
            EXPECT_LT(admitted, arrivals.size());
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Meters, GcraExact,
    ::testing::Values(GcraCase{"pps1000_b1", {1000, kSec}, 1, false},
                      GcraCase{"pps1000_b50", {1000, kSec}, 50, false},
                      GcraCase{"per_minute6000_b5", {6000, 60 * kSec}, 5, false},
                      GcraCase{"pps100M_b32", {100'000'000, kSec}, 32, false},
                      GcraCase{"pps1G_b100", {1'000'000'000, kSec}, 100, false},
                      GcraCase{"per_hour1_b2", {1, kHour}, 2, false},
                      GcraCase{"pps1000_b8_empty", {1000, kSec}, 8, true},
                      GcraCase{"pps64_b3_empty", {64, kSec}, 3, true}),
    [](const auto& info) { return std::string(info.param.name); });

struct WindowCase {
    const char* name;
    bool sliding;
    uint64_t limit;
    uint64_t window_ns;
    bool start_empty;
};

class WindowExact : public ::testing::TestWithParam<WindowCase> {};

TEST_P(WindowExact, SameDecisionsAsReference) {
    const WindowCase& c = GetParam();
    const rl_meter m = mustWindow({c.sliding, c.limit, c.window_ns});
    ASSERT_EQ(m.algo, c.sliding ? RL_ALGO_SLIDING_WINDOW : RL_ALGO_FIXED_WINDOW);
    const uint64_t interval = std::max<uint64_t>(c.window_ns / c.limit / 2, 1);
    for (int backwards_pct : {0, 10}) {
        for (uint64_t seed : kSeeds) {
            WindowMeter impl{m, c.start_empty};
            ref::Window model(c.sliding, c.limit, c.window_ns, c.start_empty);
            size_t admitted = 0;
            const auto arrivals = randomArrivals(seed, kPacketsPerSeed, interval, 3 * kSec, backwards_pct);
            for (size_t i = 0; i < arrivals.size(); i++) {
                const bool want = model.offer(arrivals[i].t_ns);
                const bool got = impl.offer(arrivals[i].t_ns);
                ASSERT_EQ(got, want) << c.name << " seed " << seed << " backwards% " << backwards_pct
                                     << " packet " << i << " t=" << arrivals[i].t_ns;
                admitted += got;
            }
            EXPECT_GT(admitted, 0u);
            EXPECT_LT(admitted, arrivals.size());
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Meters, WindowExact,
    ::testing::Values(WindowCase{"fixed_100_per_s", false, 100, kSec, false},
                      WindowCase{"fixed_1_per_ms", false, 1, 1'000'000, false},
                      WindowCase{"fixed_600_per_min_empty", false, 600, 60 * kSec, true},
                      WindowCase{"sliding_100_per_s", true, 100, kSec, false},
                      WindowCase{"sliding_3_per_7ms", true, 3, 7'000'000, false},
                      WindowCase{"sliding_600_per_min", true, 600, 60 * kSec, false},
                      WindowCase{"sliding_10_per_day_empty", true, 10, 24 * kHour, true}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- non-exact rates: a derived bound on the admitted count ---------------
//
// Lemma (virtual-time meter, cost c, limit L, costs and limit in the same
// time unit, c <= L): feed it time-ordered arrivals starting from a full
// bucket, every gap between consecutive arrivals <= g with g <= c and
// g <= L - c, over a span D = t_last - t_first, and let at least one arrival
// be refused. Then the admitted count n satisfies
//     (D + L) / c - 1  <  n  <=  (D + L) / c.
// Proof: the gaps keep TAT >= t at every arrival after the first (after an
// admission TAT >= t + c >= next t; after a refusal TAT > t + L - c >= next
// t), so TAT never restarts and TAT_end = t_first + n*c. Admissions need
// TAT <= t + L, giving n*c <= D + L. At the last refusal t_r, t_first +
// n_r*c > t_r + L - c, and the m arrivals after it were all admitted and span
// at most m*g <= m*c, so n*c > D + L - c.
//
// The meter rounds c and L down to whole q (c', L'); the reference uses the
// exact rationals. Both obey the lemma, so
//     |n_meter - n_reference| < 1 + |(D + L')/c' - (D + L)/c|.
struct Saturated {
    double lo, hi;  // open/closed interval for n
};
Saturated lemmaRange(long double d, long double l, long double c) {
    const long double x = (d + l) / c;
    return {(double)(x - 1), (double)x};
}

// Arrivals every gap in [0, g] ns, packet size fixed, over span_ns.
std::vector<Arrival> saturatingArrivals(uint64_t seed, uint64_t g_ns, uint64_t span_ns, uint32_t bytes) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<uint64_t> gap(0, g_ns);
    std::vector<Arrival> out;
    uint64_t t = 7 * kSec;
    const uint64_t end = t + span_ns;
    while (t <= end) {
        out.push_back({t, bytes});
        t += gap(rng);
    }
    return out;
}

struct InexactCase {
    const char* name;
    Rate rate;
    uint64_t burst;
    bool bytes;        // token bucket byte dimension (else packets; GCRA too)
    uint32_t size;     // bytes per packet (byte dimension)
    uint64_t span_ns;
};

class InexactRate : public ::testing::TestWithParam<InexactCase> {};

TEST_P(InexactRate, AdmittedCountWithinDerivedBound) {
    const InexactCase& c = GetParam();
    ASSERT_FALSE(exactInQ(c.rate)) << "case meant to exercise rounding";
    rl_meter tb = c.bytes ? mustTb({kNone, 0, c.rate, c.burst}) : mustTb({c.rate, c.burst, kNone, 0});
    const int dim = c.bytes ? RL_TB_DIM_BYTES : RL_TB_DIM_PKTS;
    const uint64_t units = c.bytes ? c.size : 1;
    // exact, in q: c = units * T, L = burst * T with T = period * 64 / count
    const long double t_exact = (long double)c.rate.period_ns * kQ / c.rate.count;
    const long double cost_exact = units * t_exact, limit_exact = c.burst * t_exact;
    const uint64_t cost_q = rl_cost_q(units, tb.t_q16[dim]), limit_q = tb.limit_q[dim];
    ASSERT_LE(cost_q, cost_exact);
    // rl_cost_q = floor(units * floor(65536 T) / 65536) > units * T - units / 65536 - 1
    ASSERT_GT(cost_q + 1 + units / 65536.0L, cost_exact);
    // lemma preconditions for both: gaps <= c and <= L - c (in ns)
    const uint64_t g_ns = std::min<uint64_t>(cost_q, limit_q - cost_q) / kQ;
    ASSERT_GE(g_ns, 1u);

    std::vector<std::pair<const char*, rl_meter>> meters = {{"token_bucket", tb}};
    if (!c.bytes) meters.push_back({"gcra", mustGcra({c.rate, c.burst})});
    for (const auto& [algo, m] : meters) {
        for (uint64_t seed : kSeeds) {
            const auto arrivals = saturatingArrivals(seed, g_ns, c.span_ns, c.size);
            TbMeter impl_tb{m};
            GcraMeter impl_gcra{m};
            ref::TokenBucket model(c.bytes ? ref::TokenBucket::Dim{} : ref::TokenBucket::Dim{c.rate.count, c.rate.period_ns, c.burst},
                                   c.bytes ? ref::TokenBucket::Dim{c.rate.count, c.rate.period_ns, c.burst} : ref::TokenBucket::Dim{});
            uint64_t n_impl = 0, n_ref = 0;
            for (const Arrival& a : arrivals) {
                n_impl += m.algo == RL_ALGO_GCRA ? impl_gcra.offer(a.t_ns) : impl_tb.offer(a.t_ns, a.bytes);
                n_ref += model.offer(a.t_ns, a.bytes);
            }
            ASSERT_LT(n_ref, arrivals.size()) << "stream must saturate";
            const long double d = (long double)(arrivals.back().t_ns - arrivals.front().t_ns) * kQ;
            const Saturated r_ref = lemmaRange(d, limit_exact, cost_exact);
            const Saturated r_impl = lemmaRange(d, limit_q, cost_q);
            // 1e-9 slack only for long double rounding of the interval ends
            EXPECT_GT(n_ref + 1e-9, r_ref.lo) << algo << " seed " << seed;
            EXPECT_LE(n_ref, r_ref.hi + 1e-9) << algo << " seed " << seed;
            EXPECT_GT(n_impl + 1e-9, r_impl.lo) << algo << " seed " << seed;
            EXPECT_LE(n_impl, r_impl.hi + 1e-9) << algo << " seed " << seed;
            const double bound = 1 + std::fabs(r_impl.hi - r_ref.hi);
            const double diff = std::fabs((double)n_impl - (double)n_ref);
            EXPECT_LT(diff, bound + 1e-9) << algo << " seed " << seed << " n_impl " << n_impl << " n_ref " << n_ref;
            RecordProperty(std::string(algo) + "_seed" + std::to_string(seed) + "_diff", std::to_string(diff));
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Meters, InexactRate,
    ::testing::Values(InexactCase{"pps3_b5", {3, kSec}, 5, false, 64, 600 * kSec},
                      InexactCase{"pps7_b2", {7, kSec}, 2, false, 64, 300 * kSec},
                      InexactCase{"pps300M_b64", {300'000'000, kSec}, 64, false, 64, 2'000'000},
                      InexactCase{"per_hour7_b3", {7, kHour}, 3, false, 64, 50 * kHour},
                      InexactCase{"Bps375_b3000_size64", {375, kSec}, 3000, true, 64, 200 * kSec},
                      InexactCase{"Bps1250000000_b30000_size1500", {1'250'000'000, kSec}, 30000, true, 1500, 2'000'000},
                      InexactCase{"Bps50000000000_b65535_size64_400G", {50'000'000'000, kSec}, 65535, true, 64, 200'000},
                      InexactCase{"Bps50000000000_b65535_size1500_400G", {50'000'000'000, kSec}, 65535, true, 1500, 200'000}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ratelimit

namespace ratelimit {
namespace {

// ---- edge cases ----------------------------------------------------------------

struct BurstCase {
    const char* name;
    Rate rate;
    uint64_t burst;
};
class ExactBurst : public ::testing::TestWithParam<BurstCase> {};

// I.371: from a fresh state floor(tau/T) + 1 back-to-back cells conform and the
// next does not; the token bucket passes exactly `burst`. One emission
// interval later exactly one more passes, one ns earlier none does.
TEST_P(ExactBurst, BackToBackThenOnePerInterval) {
    const BurstCase& c = GetParam();
    const uint64_t t_ns = c.rate.period_ns / c.rate.count;  // cases have whole-ns T
    ASSERT_EQ(t_ns * c.rate.count, c.rate.period_ns);
    const uint64_t tau_ns = (c.burst - 1) * t_ns;
    const uint64_t expect_b2b = tau_ns / t_ns + 1;
    const uint64_t t0 = 42 * kSec;

    GcraMeter gcra{mustGcra({c.rate, c.burst})};
    TbMeter tb{mustTb({c.rate, c.burst, kNone, 0})};
    auto ref_gcra = ref::Gcra::fromRate(c.rate.count, c.rate.period_ns, c.burst);
    ref::TokenBucket ref_tb({c.rate.count, c.rate.period_ns, c.burst}, {});
    for (uint64_t i = 0; i < expect_b2b; i++) {
        ASSERT_TRUE(ref_gcra.offer(t0)) << i;
        ASSERT_TRUE(gcra.offer(t0)) << i;
        ASSERT_TRUE(ref_tb.offer(t0, 64)) << i;
        ASSERT_TRUE(tb.offer(t0, 64)) << i;
    }
    EXPECT_FALSE(ref_gcra.offer(t0));
    EXPECT_FALSE(gcra.offer(t0));
    EXPECT_FALSE(ref_tb.offer(t0, 64));
    EXPECT_FALSE(tb.offer(t0, 64));
    if (t_ns > 1) {
        EXPECT_FALSE(gcra.offer(t0 + t_ns - 1));
        EXPECT_FALSE(tb.offer(t0 + t_ns - 1, 64));
    }
    EXPECT_TRUE(gcra.offer(t0 + t_ns));
    EXPECT_TRUE(tb.offer(t0 + t_ns, 64));
    EXPECT_FALSE(gcra.offer(t0 + t_ns));
    EXPECT_FALSE(tb.offer(t0 + t_ns, 64));
}

INSTANTIATE_TEST_SUITE_P(Meters, ExactBurst,
                         ::testing::Values(BurstCase{"per_hour1_b1", {1, kHour}, 1},
                                           BurstCase{"per_hour1_b3", {1, kHour}, 3},
                                           BurstCase{"pps1000_b1", {1000, kSec}, 1},
                                           BurstCase{"pps1000_b7", {1000, kSec}, 7},
                                           BurstCase{"pps1000_b50", {1000, kSec}, 50},
                                           BurstCase{"pps100M_b32", {100'000'000, kSec}, 32},
                                           BurstCase{"pps1G_b100", {1'000'000'000, kSec}, 100},
                                           BurstCase{"pps4_b1000000", {4, kSec}, 1'000'000}),
                         [](const auto& info) { return std::string(info.param.name); });

// A byte burst of B passes floor(B/s) packets of s bytes, then exactly the
// remainder, then nothing.
// rl_vt_pressure (admission control, RL_CFG_F_NEW_EMPTY_PRESSURE): after k
// back-to-back packets from a full GCRA of burst B, pressure iff fewer than
// half the burst is left, k > B/2; and it ends as the meter refills.
TEST(Pressure, MoreThanHalfTheBurstUsed) {
    for (uint64_t burst : {1, 2, 7, 8, 100}) {
        SCOPED_TRACE("burst " + std::to_string(burst));
        auto m = gcraMeter({.packets = {1000, kSec}, .burst = burst});
        ASSERT_TRUE(m);
        uint64_t t_q = rl_gcra_t_q(&m.value()), limit_q = m.value().limit_q[0];
        uint64_t now_q = 5 * kSec * kQ;
        __u64 tat = 0;
        EXPECT_FALSE(rl_vt_pressure(tat, now_q, limit_q));
        for (uint64_t k = 1; k <= burst; k++) {
            ASSERT_TRUE(rl_vt_conform(tat, now_q, t_q, limit_q, &tat));
            EXPECT_EQ(bool(rl_vt_pressure(tat, now_q, limit_q)), 2 * k > burst) << "k " << k;
        }
        // refilled to more than half: no pressure
        EXPECT_FALSE(rl_vt_pressure(tat, now_q + (burst / 2 + 1) * t_q, limit_q));
    }
}

TEST(TokenBucketBytes, ExactByteBurst) {
    for (uint64_t burst : {64ull, 1500ull, 9000ull, 65535ull}) {
        for (uint32_t size : {64u, 100u, 1500u}) {
            if (size > burst) continue;
            TbMeter tb{mustTb({kNone, 0, {125'000'000, kSec}, burst})};
            const uint64_t t0 = 9 * kSec;
            for (uint64_t i = 0; i < burst / size; i++) ASSERT_TRUE(tb.offer(t0, size)) << burst << "/" << size;
            const uint64_t rest = burst % size;
            if (rest) {
                EXPECT_FALSE(tb.offer(t0, rest + 1)) << burst << "/" << size;
                EXPECT_TRUE(tb.offer(t0, rest)) << burst << "/" << size;
            }
            EXPECT_FALSE(tb.offer(t0, 1)) << burst << "/" << size;
        }
    }
}

// A packet must conform in both dimensions, and a refusal takes nothing.
TEST(TokenBucketBoth, RefusalInOneDimensionTakesNothing) {
    // 10 packets, 3000 bytes
    TbMeter tb{mustTb({{1000, kSec}, 10, {1'000'000, kSec}, 3000})};
    const uint64_t t0 = kSec;
    EXPECT_TRUE(tb.offer(t0, 1500));
    EXPECT_FALSE(tb.offer(t0, 1501));  // bytes refuse: packet token must stay
    for (int i = 0; i < 9; i++) EXPECT_TRUE(tb.offer(t0, i < 1 ? 1500 : 0)) << i;
    EXPECT_FALSE(tb.offer(t0, 0));     // packets refuse
}

// Idle for years: nothing overflows and the bucket is exactly full again.
TEST(LongIdle, BucketFullAgainAfterYears) {
    struct Case {
        Rate rate;
        uint64_t burst;
    };
    // the second case has the largest burst window the params allow at that rate
    for (const Case& c : {Case{{1000, kSec}, 10}, Case{{1, kHour}, 4000}}) {
        for (uint64_t idle : {kYear, 5 * kYear, 8 * kYear}) {
            GcraMeter gcra{mustGcra({c.rate, c.burst})};
            TbMeter tb{mustTb({c.rate, c.burst, {125, kSec}, 1500 * c.burst})};
            WindowMeter win{mustWindow({true, c.burst, kHour})};
            ref::TokenBucket ref_tb({c.rate.count, c.rate.period_ns, c.burst}, {125, kSec, 1500 * c.burst});
            const uint64_t t0 = kSec;
            for (uint64_t i = 0; i < c.burst; i++) {
                ASSERT_TRUE(gcra.offer(t0));
                ASSERT_TRUE(tb.offer(t0, 1500));
                ASSERT_TRUE(ref_tb.offer(t0, 1500));
                ASSERT_TRUE(win.offer(t0));
            }
            ASSERT_FALSE(gcra.offer(t0));
            ASSERT_FALSE(tb.offer(t0, 1500));
            ASSERT_FALSE(win.offer(t0));
            const uint64_t t1 = t0 + idle;
            ASSERT_LT((unsigned __int128)rl_now_q(t1) + gcra.m.limit_q[0], (unsigned __int128)1 << 64);
            for (uint64_t i = 0; i < c.burst; i++) {
                ASSERT_TRUE(gcra.offer(t1)) << i;
                ASSERT_TRUE(tb.offer(t1, 1500)) << i;
                ASSERT_TRUE(ref_tb.offer(t1, 1500)) << i;
                ASSERT_TRUE(win.offer(t1)) << i;
            }
            // no wrap: the state is exactly "burst spent at t1"
            EXPECT_EQ(gcra.tat, rl_now_q(t1) + gcra.m.limit_q[0]);
            EXPECT_EQ(tb.tat[0], rl_now_q(t1) + tb.m.limit_q[0]);
            EXPECT_EQ(tb.tat[1], rl_now_q(t1) + tb.m.limit_q[1]);
            EXPECT_FALSE(gcra.offer(t1));
            EXPECT_FALSE(tb.offer(t1, 1500));
            EXPECT_FALSE(ref_tb.offer(t1, 1500));
            EXPECT_FALSE(win.offer(t1));
        }
    }
}

// The token bucket keeps no last-update time (one word per dimension, for
// compare-and-swap), so a timestamp older than the newest one seen is metered
// at its own time: the bucket as it stood then, never refilled by the
// backwards step. Stepwise against the zero-elapsed reference from the same
// state: identical whenever time does not go back, never more permissive when
// it does.
TEST(ClockBackwards, TokenBucketNeverMorePermissiveThanZeroElapsed) {
    const Rate rate{1000, kSec};
    const uint64_t burst = 8, t_q = rate.period_ns * kQ / rate.count;
    const rl_meter m = mustTb({rate, burst, kNone, 0});
    for (uint64_t seed : kSeeds) {
        ref::TokenBucket model({rate.count, rate.period_ns, burst}, {});
        size_t stricter = 0, backwards = 0, admitted = 0;
        const auto arrivals = randomArrivals(seed, kPacketsPerSeed, 500'000, 3 * kSec, 20);
        for (size_t i = 0; i < arrivals.size(); i++) {
            const uint64_t t = arrivals[i].t_ns;
            TbMeter impl{m};
            if (model.packets().seen()) {
                // same state in TAT form: TAT = last + deficit / rate
                const ref::i128 deficit_q = model.packets().deficit() * (ref::i128)kQ;
                ASSERT_EQ(deficit_q % rate.count, 0);
                impl.seen = true;
                impl.tat[0] = rl_now_q(model.packets().lastNs()) + (uint64_t)(deficit_q / rate.count);
            }
            const bool back = model.packets().seen() && t < model.packets().lastNs();
            const bool got = impl.offer(t, 64);
            const bool want = model.offer(t, 64);
            admitted += want;
            if (!back) {
                ASSERT_EQ(got, want) << "seed " << seed << " packet " << i;
            } else {
                backwards++;
                ASSERT_TRUE(!got || want) << "seed " << seed << " packet " << i << ": more permissive going back";
                stricter += got != want;
            }
        }
        EXPECT_GT(backwards, 0u);
        EXPECT_GT(admitted, 0u);
        RecordProperty("seed" + std::to_string(seed) + "_backwards_stricter",
                       std::to_string(stricter) + "/" + std::to_string(backwards));
        (void)t_q;
    }
}

// Whatever order timestamps come in, every interval [a, b] of arrival times
// holds at most burst + (b - a) / T admitted packets (the I.371 bound; with
// costs c and limit L: n*c <= (b - a) + L). Checked on all pairs.
TEST(ClockBackwards, RateEnvelopeHoldsWithJitteredTimestamps) {
    const Rate rate{1000, kSec};
    const uint64_t burst = 5;
    for (int algo : {RL_ALGO_GCRA, RL_ALGO_TOKEN_BUCKET}) {
        const rl_meter m = algo == RL_ALGO_GCRA ? mustGcra({rate, burst}) : mustTb({rate, burst, kNone, 0});
        const uint64_t c = m.t_q16[0] >> 16, l = m.limit_q[0];
        for (uint64_t seed : kSeeds) {
            GcraMeter g{m};
            TbMeter tb{m};
            std::vector<uint64_t> times;
            for (const Arrival& a : randomArrivals(seed, 3000, 400'000, 3 * kSec, 30))
                if (algo == RL_ALGO_GCRA ? g.offer(a.t_ns) : tb.offer(a.t_ns, 64)) times.push_back(a.t_ns);
            std::sort(times.begin(), times.end());
            ASSERT_GT(times.size(), burst);
            for (size_t i = 0; i < times.size(); i++)
                for (size_t j = i; j < times.size(); j++)
                    ASSERT_LE((unsigned __int128)(j - i + 1) * c, (unsigned __int128)(times[j] - times[i]) * kQ + l)
                        << "algo " << algo << " seed " << seed << " i " << i << " j " << j;
        }
    }
}

// A timestamp far in the past (years before the state): refused, state
// untouched, nothing wraps; the meter then carries on as the reference does.
TEST(ClockBackwards, HugeStepBackIsRefusedWithoutWrap) {
    const Rate rate{1000, kSec};
    const uint64_t burst = 4, t1 = 2 * kYear;
    GcraMeter gcra{mustGcra({rate, burst})};
    TbMeter tb{mustTb({rate, burst, {125'000, kSec}, 6000})};
    WindowMeter win{mustWindow({true, burst, kSec})};
    for (uint64_t i = 0; i < burst; i++) {
        ASSERT_TRUE(gcra.offer(t1));
        ASSERT_TRUE(tb.offer(t1, 1500));
        ASSERT_TRUE(win.offer(t1));
    }
    const __u64 g_tat = gcra.tat, tb0 = tb.tat[0], tb1 = tb.tat[1], w_start = win.start, w_counts = win.counts;
    for (uint64_t back : {uint64_t{0}, kSec, t1 - kSec, t1 - 1}) {
        EXPECT_FALSE(gcra.offer(back)) << back;
        EXPECT_FALSE(tb.offer(back, 64)) << back;
        EXPECT_FALSE(win.offer(back)) << back;
    }
    EXPECT_EQ(gcra.tat, g_tat);
    EXPECT_EQ(tb.tat[0], tb0);
    EXPECT_EQ(tb.tat[1], tb1);
    EXPECT_EQ(win.start, w_start);
    EXPECT_EQ(win.counts, w_counts);
    // one interval after t1 one packet passes again (bytes: 1500 B at 125 kB/s = 12 ms)
    EXPECT_TRUE(gcra.offer(t1 + kSec / 1000));
    EXPECT_FALSE(gcra.offer(t1 + kSec / 1000));
    EXPECT_FALSE(tb.offer(t1 + kSec / 1000, 1500));
    EXPECT_TRUE(tb.offer(t1 + 12 * kSec / 1000, 1500));
    EXPECT_TRUE(win.offer(t1 + 2 * kSec));  // fresh window (2W later: prev = 0)
}

// 1 packet/hour, the slowest accepted rate: burst packets, then one an hour.
TEST(RateLimits, OnePerHour) {
    const Rate rate{1, kHour};
    const uint64_t burst = 3, t0 = 5 * kSec;
    GcraMeter gcra{mustGcra({rate, burst})};
    TbMeter tb{mustTb({rate, burst, kNone, 0})};
    for (uint64_t i = 0; i < burst; i++) {
        EXPECT_TRUE(gcra.offer(t0 + i * kSec));
        EXPECT_TRUE(tb.offer(t0 + i * kSec, 64));
    }
    EXPECT_FALSE(gcra.offer(t0 + 10 * kSec));
    EXPECT_FALSE(tb.offer(t0 + 10 * kSec, 64));
    EXPECT_FALSE(gcra.offer(t0 + kHour - 1));
    EXPECT_FALSE(tb.offer(t0 + kHour - 1, 64));
    EXPECT_TRUE(gcra.offer(t0 + kHour));
    EXPECT_TRUE(tb.offer(t0 + kHour, 64));
    EXPECT_FALSE(gcra.offer(t0 + kHour));
    EXPECT_FALSE(tb.offer(t0 + kHour, 64));
    EXPECT_TRUE(gcra.offer(t0 + 2 * kHour));
    EXPECT_TRUE(tb.offer(t0 + 2 * kHour, 64));
}

// Saturating streams at the fastest packet rates, over simulated time: the
// admitted count is exactly the lemma's (D + L)/c rounded down (c and L are
// whole q here), i.e. rate * D + burst, and equals the reference's.
TEST(RateLimits, FastestPacketRatesOverSimulatedTime) {
    struct Case {
        Rate rate;
        uint64_t burst, step_ns, per_step, span_ns;
    };
    // 100 Mpps offered at 200 Mpps for 1 s; 1 Gpps (the maximum) at 2 Gpps for 0.1 s
    for (const Case& c : {Case{{100'000'000, kSec}, 64, 5, 1, kSec}, Case{{1'000'000'000, kSec}, 32, 1, 2, kSec / 10}}) {
        const uint64_t t_ns = c.rate.period_ns / c.rate.count;
        for (int algo : {RL_ALGO_GCRA, RL_ALGO_TOKEN_BUCKET}) {
            GcraMeter gcra{mustGcra({c.rate, c.burst})};
            TbMeter tb{mustTb({c.rate, c.burst, kNone, 0})};
            const uint64_t t0 = 11 * kSec;
            uint64_t admitted = 0, offered = 0, last = t0;
            for (uint64_t t = t0; t < t0 + c.span_ns; t += c.step_ns) {
                for (uint64_t k = 0; k < c.per_step; k++, offered++)
                    admitted += algo == RL_ALGO_GCRA ? gcra.offer(t) : tb.offer(t, 64);
                last = t;
            }
            // (D + L) / c with D = last - t0, L = burst * T, c = T
            const uint64_t expect = (last - t0) / t_ns + c.burst;
            EXPECT_EQ(admitted, expect) << "rate " << c.rate.count << " algo " << algo << " offered " << offered;
            EXPECT_NEAR((double)admitted, (double)c.rate.count * c.span_ns / kSec, (double)c.burst);
        }
    }
}

// 1 kbit/s, the slowest byte rate: 1500 bytes every 12 s.
TEST(RateLimits, OneKbitPerSecond) {
    TbMeter tb{mustTb({kNone, 0, {125, kSec}, 1500})};
    const uint64_t t0 = 3 * kSec;
    EXPECT_TRUE(tb.offer(t0, 1500));
    EXPECT_FALSE(tb.offer(t0, 1));
    EXPECT_FALSE(tb.offer(t0 + 12 * kSec - 1, 1500));
    EXPECT_TRUE(tb.offer(t0 + 12 * kSec, 1500));
    EXPECT_FALSE(tb.offer(t0 + 12 * kSec + 511'999'999, 64));
    EXPECT_TRUE(tb.offer(t0 + 12 * kSec + 512'000'000, 64));  // 64 B = 0.512 s
}

// Fastest accepted byte rate: a saturating stream of 1500-byte packets for
// 1 ms admits rate * D + burst bytes within the rounding bound of InexactRate.
TEST(RateLimits, FastestByteRate) {
    const Rate rate{kMaxBytesPerSec, kSec};
    const uint64_t burst = 65535;
    TbMeter tb{mustTb({kNone, 0, rate, burst})};
    ref::TokenBucket model({}, {rate.count, rate.period_ns, burst});
    const uint64_t t0 = 13 * kSec, span = kSec / 1000;
    const uint64_t cost_q = rl_cost_q(1500, tb.m.t_q16[1]);
    const uint64_t step = std::max<uint64_t>(cost_q / kQ / 2, 1);  // offered at ~2x
    uint64_t n_impl = 0, n_ref = 0, last = t0;
    for (uint64_t t = t0; t <= t0 + span; t += step) {
        n_impl += tb.offer(t, 1500);
        n_ref += model.offer(t, 1500);
        last = t;
    }
    const long double d_q = (long double)(last - t0) * kQ;
    const long double t_exact = (long double)kSec * kQ / rate.count;
    const long double hi_ref = (d_q + burst * t_exact) / (1500 * t_exact);
    const long double hi_impl = (d_q + tb.m.limit_q[1]) / cost_q;
    EXPECT_LE(n_ref, hi_ref + 1e-9);
    EXPECT_GT(n_ref + 1e-9, hi_ref - 1);
    EXPECT_LE(n_impl, hi_impl + 1e-9);
    EXPECT_GT(n_impl + 1e-9, hi_impl - 1);
    EXPECT_LT(std::fabs((double)n_impl - (double)n_ref), 1 + std::fabs((double)(hi_impl - hi_ref)) + 1e-9);
}

// New keys may start with an empty bucket (RL_CFG_F_NEW_EMPTY).
TEST(StartEmpty, FirstPacketWaitsOneInterval) {
    const Rate rate{1000, kSec};
    const uint64_t t0 = 77 * kSec, t_ns = kSec / 1000;
    GcraMeter gcra{mustGcra({rate, 5}), true};
    TbMeter tb{mustTb({rate, 5, kNone, 0}), true};
    TbMeter tb_bytes{mustTb({kNone, 0, {1'000'000, kSec}, 3000}), true};  // 1 B/us
    WindowMeter fixed{mustWindow({false, 5, kSec}), true};
    WindowMeter sliding{mustWindow({true, 5, kSec}), true};
    EXPECT_FALSE(gcra.offer(t0));
    EXPECT_FALSE(tb.offer(t0, 64));
    EXPECT_FALSE(tb_bytes.offer(t0, 64));
    EXPECT_FALSE(fixed.offer(t0));
    EXPECT_FALSE(sliding.offer(t0));
    EXPECT_FALSE(gcra.offer(t0 + t_ns - 1));
    EXPECT_FALSE(tb.offer(t0 + t_ns - 1, 64));
    EXPECT_FALSE(tb_bytes.offer(t0 + 64'000 - 1, 64));
    EXPECT_TRUE(gcra.offer(t0 + t_ns));
    EXPECT_TRUE(tb.offer(t0 + t_ns, 64));
    EXPECT_TRUE(tb_bytes.offer(t0 + 64'000, 64));
    EXPECT_FALSE(gcra.offer(t0 + t_ns));
    EXPECT_FALSE(tb.offer(t0 + t_ns, 64));
    EXPECT_FALSE(tb_bytes.offer(t0 + 64'000, 1));
    // fixed window: nothing until the next window, then `limit`
    EXPECT_FALSE(fixed.offer(t0 + kSec - 1));
    for (int i = 0; i < 5; i++) EXPECT_TRUE(fixed.offer(t0 + kSec)) << i;
    EXPECT_FALSE(fixed.offer(t0 + kSec));
    // sliding: at t0 + W the previous (full) window still weighs 5 * (W - 0)/W
    EXPECT_FALSE(sliding.offer(t0 + kSec));
    EXPECT_TRUE(sliding.offer(t0 + kSec + kSec / 5));  // 5 * 4/5 + 0 + 1 <= 5
}

// A packet larger than the byte burst never conforms, however long the idle.
TEST(TokenBucketBytes, PacketLargerThanBurstNeverConforms) {
    const uint64_t rates[] = {kMinBytesPerSec, 125'000'000, 1'250'000'000, 50'000'000'000, kMaxBytesPerSec};
    const uint64_t bursts[] = {64, 1000, 1001, 1500, 9000, 65535, 150'000, 1'000'000};
    for (uint64_t r : rates) {
        for (uint64_t b : bursts) {
            TbMeter tb{mustTb({kNone, 0, {r, kSec}, b})};
            const uint64_t bigger[] = {b + 1, b + 7, 2 * b, 300'000, 1ull << 20};
            uint64_t t = kSec;
            for (uint64_t idle : {uint64_t{0}, kHour, kYear}) {
                t += idle;
                for (uint64_t size : bigger) {
                    if (size > b) {
                        EXPECT_FALSE(tb.offer(t, size)) << "rate " << r << " burst " << b << " size " << size;
                    }
                }
            }
            EXPECT_TRUE(tb.offer(t, b)) << "rate " << r << " burst " << b;
        }
    }
}

}  // namespace
}  // namespace ratelimit

namespace ratelimit {
namespace {

// ---- ready time (the refusal cache's expiry) ----------------------------------------
// rl_vt_ready_q(tat, c, limit) is exact: a packet of cost c conforms at the ready
// time and at no earlier one, whatever the state a refusal left.
TEST(ReadyTime, VirtualTimeReadyIsTheFirstConformingInstant) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; i++) {
        uint64_t limit = 1 + rng() % (1ull << 40), cost = 1 + rng() % limit;
        uint64_t now = (1ull << 45) + rng() % (1ull << 44);
        uint64_t tat = now + rng() % (limit + 1);  // any TAT a meter can hold
        __u64 next;
        uint64_t ready = rl_vt_ready_q(tat, cost, limit);
        if (ready == 0) {
            EXPECT_TRUE(rl_vt_conform(tat, 0, cost, limit, &next));
            continue;
        }
        ASSERT_NE(ready, ~0ull);
        EXPECT_TRUE(rl_vt_conform(tat, ready, cost, limit, &next)) << i;
        EXPECT_FALSE(rl_vt_conform(tat, ready - 1, cost, limit, &next)) << i;
    }
    EXPECT_EQ(rl_vt_ready_q(123, 11, 10), ~0ull);  // cost above the limit: never
}

// rl_window_ready_ns: no packet conforms before it (searched exhaustively over a
// small window), and for the sliding window's weighted refusal one does at it.
TEST(ReadyTime, WindowReadyIsNeverLate) {
    const uint64_t W = 1000;
    for (bool sliding : {true, false}) {
        for (uint64_t limit : {1, 3, 10}) {
            rl_meter m{};  // a 1000 ns window: below windowMeter's range, small enough to search
            m.algo = sliding ? RL_ALGO_SLIDING_WINDOW : RL_ALGO_FIXED_WINDOW;
            m.window_ns = W;
            m.window_limit = limit;
            const uint64_t start = 50 * W;
            for (uint64_t prev = 0; prev <= limit + 1; prev++) {
                for (uint64_t cur = 0; cur <= limit; cur++) {
                    const __u64 counts = RL_WIN_PACK(cur, prev);
                    for (uint64_t e = 0; e < W; e += 7) {
                        if (rl_window_admits(&m, start, counts, start + e)) continue;
                        uint64_t ready = rl_window_ready_ns(&m, start, counts);
                        SCOPED_TRACE("sliding " + std::to_string(sliding) + " limit " + std::to_string(limit) +
                                     " prev " + std::to_string(prev) + " cur " + std::to_string(cur) +
                                     " e " + std::to_string(e));
                        EXPECT_GT(ready, start + e);
                        // nothing conforms in [start + e, ready), rolling included
                        for (uint64_t t = start + e; t < ready; t++) {
                            __u64 s = start, c = counts;
                            ASSERT_FALSE(rl_window_conform(&m, &s, &c, t)) << "t " << t;
                        }
                        if (sliding && cur + 1 <= limit && ready < start + W) {
                            __u64 s = start, c = counts;
                            EXPECT_TRUE(rl_window_conform(&m, &s, &c, ready));
                        }
                    }
                }
            }
        }
    }
}

}  // namespace
}  // namespace ratelimit
