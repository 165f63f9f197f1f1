// controller/rules/meter_params: validation (each rejection names the problem)
// and the derived rl_meter fields, checked against independent arithmetic.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bpf/lib/vtime.h"
#include "rules/meter_params.hpp"

namespace ratelimit {
namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kHour = 3600 * kSec;
constexpr uint64_t kDay = 24 * kHour;
constexpr Rate kNone{0, 0};
using u128 = unsigned __int128;

struct Rejected {
    const char* name;
    std::function<Status()> make;
    std::vector<std::string> words;  // all must appear in the message
};

Status asStatus(const Result<rl_meter>& r) {
    if (r.ok()) return {};
    return r.error();
}
Status tb(TokenBucketSpec s) { return asStatus(tokenBucketMeter(s)); }
Status gcra(GcraSpec s) { return asStatus(gcraMeter(s)); }
Status window(WindowSpec s) { return asStatus(windowMeter(s)); }

// Largest burst whose window (burst * T) fits in RL_MAX_LIMIT_Q, for packets.
uint64_t maxPacketBurst(const Rate& r) {
    const uint64_t t_q = (uint64_t)(((u128)r.period_ns << RL_TIME_SHIFT) / r.count);
    return RL_MAX_LIMIT_Q / t_q;
}

TEST(MeterParams, RejectsWithAMessageNamingTheProblem) {
    const Rate ok_pps{1000, kSec};
    const Rate ok_bps{125'000, kSec};
    const Rate slow_hour{1, kHour};
    const std::vector<Rejected> cases = {
        {"tb_no_dimension", [] { return tb({}); }, {"token bucket", "packet rate", "byte rate"}},
        {"tb_zero_period", [] { return tb({{5, 0}, 1, kNone, 0}); }, {"token bucket packets", "positive"}},
        {"tb_packets_below_1_per_hour", [] { return tb({{1, kHour + 1}, 1, kNone, 0}); }, {"packets", "below", "minimum", "1/hour"}},
        {"tb_packets_below_1_per_hour_scaled", [] { return tb({{23, kDay}, 1, kNone, 0}); }, {"below", "1/hour"}},
        {"tb_packets_above_max", [] { return tb({{kMaxPacketsPerSec + 1, kSec}, 1, kNone, 0}); }, {"packets", "above", "maximum"}},
        {"tb_packets_zero_burst", [=] { return tb({ok_pps, 0, kNone, 0}); }, {"token bucket packets", "burst", "at least 1"}},
        {"tb_packets_burst_too_large", [=] { return tb({slow_hour, maxPacketBurst(slow_hour) + 1, kNone, 0}); }, {"packets", "burst too large"}},
        {"tb_bytes_below_1kbit", [] { return tb({kNone, 0, {kMinBytesPerSec - 1, kSec}, 1500}); }, {"token bucket bytes", "below", "1kbit/s"}},
        {"tb_bytes_below_1kbit_scaled", [] { return tb({kNone, 0, {kMinBytesPerSec * 60 - 1, 60 * kSec}, 1500}); }, {"bytes", "below", "minimum"}},
        {"tb_bytes_above_400G", [] { return tb({kNone, 0, {kMaxBytesPerSec + 1, kSec}, 1500}); }, {"token bucket bytes", "above", "400Gbit/s"}},
        {"tb_bytes_zero_burst", [=] { return tb({kNone, 0, ok_bps, 0}); }, {"token bucket bytes", "burst", "at least 1"}},
        {"tb_bytes_zero_period", [] { return tb({kNone, 0, {125, 0}, 1}); }, {"bytes", "positive"}},
        {"tb_bad_bytes_with_good_packets", [=] { return tb({ok_pps, 10, {kMaxBytesPerSec * 2, kSec}, 1500}); }, {"bytes", "above"}},
        {"gcra_zero_rate", [] { return gcra({{0, kSec}, 1}); }, {"gcra", "positive"}},
        {"gcra_below_1_per_hour", [] { return gcra({{1, kHour + 1}, 1}); }, {"gcra", "below", "1/hour"}},
        {"gcra_above_max", [] { return gcra({{kMaxPacketsPerSec + 1, kSec}, 1}); }, {"gcra", "above", "maximum"}},
        {"gcra_zero_burst", [=] { return gcra({ok_pps, 0}); }, {"gcra", "burst", "at least 1"}},
        {"gcra_burst_too_large", [=] { return gcra({slow_hour, maxPacketBurst(slow_hour) + 1}); }, {"gcra", "burst too large"}},
        {"window_zero_limit", [] { return window({true, 0, kSec}); }, {"window", "limit", "at least 1"}},
        {"window_limit_2e32", [] { return window({false, UINT32_MAX, kSec}); }, {"window", "limit", "2^32"}},
        {"window_too_small", [] { return window({true, 10, kMinWindowNs - 1}); }, {"window", "at least 1ms"}},
        {"window_zero", [] { return window({false, 10, 0}); }, {"window", "at least 1ms"}},
        {"window_too_large", [] { return window({true, 10, kMaxWindowNs + 1}); }, {"window", "at most 1 day"}},
        {"window_limit_times_window_overflow", [] { return window({true, UINT32_MAX - 1, (1ull << 31) + 2}); }, {"limit * window", "too large", "2^63"}},
        {"window_limit_times_day_overflow", [] { return window({false, 200'000'000, kDay}); }, {"limit * window", "too large"}},
    };
    for (const Rejected& c : cases) {
        const Status s = c.make();
        ASSERT_FALSE(s.ok()) << c.name << " was accepted";
        const std::string msg = s.error().message();
        EXPECT_EQ(s.error().err, 0) << c.name;
        for (const std::string& w : c.words)
            EXPECT_NE(msg.find(w), std::string::npos) << c.name << ": \"" << msg << "\" lacks \"" << w << "\"";
    }
}

// The boundary values themselves are accepted, and the derived fields are what
// the definitions say: T = period * 64 / count q (<<16), packets limit =
// burst * T, bytes limit = floor(burst * T), GCRA limit = tau + T.
TEST(MeterParams, AcceptsBoundaryValues) {
    const std::vector<std::pair<const char*, Rate>> packet_rates = {
        {"1_per_hour", {1, kHour}},
        {"24_per_day", {24, kDay}},
        {"1000_per_s", {1000, kSec}},
        {"max_pps", {kMaxPacketsPerSec, kSec}},
        {"max_pps_per_minute", {kMaxPacketsPerSec * 60, 60 * kSec}},
    };
    for (const auto& [name, r] : packet_rates) {
        const u128 t_q16 = ((u128)r.period_ns << (RL_TIME_SHIFT + 16)) / r.count;
        for (uint64_t burst : {uint64_t{1}, uint64_t{2}, maxPacketBurst(r)}) {
            auto m = tokenBucketMeter({r, burst, kNone, 0});
            ASSERT_TRUE(m.ok()) << name << " burst " << burst << ": " << m.error().message();
            EXPECT_EQ(m->algo, RL_ALGO_TOKEN_BUCKET);
            EXPECT_EQ(m->flags, RL_METER_F_PKTS);
            EXPECT_EQ(m->t_q16[0], (uint64_t)t_q16) << name;
            EXPECT_EQ(m->limit_q[0], burst * (uint64_t)(t_q16 >> 16)) << name;
            EXPECT_LE(m->limit_q[0], RL_MAX_LIMIT_Q);

            auto g = gcraMeter({r, burst});
            ASSERT_TRUE(g.ok()) << name << " burst " << burst << ": " << g.error().message();
            EXPECT_EQ(g->algo, RL_ALGO_GCRA);
            const uint64_t t_q = (uint64_t)(t_q16 >> 16), tau_q = (burst - 1) * t_q;
            EXPECT_EQ(g->limit_q[0], tau_q + t_q) << name;
            EXPECT_EQ(rl_cost_q(1, g->t_q16[0]), t_q) << name;
        }
    }
    const std::vector<std::pair<const char*, Rate>> byte_rates = {
        {"1kbit", {kMinBytesPerSec, kSec}},
        {"1kbit_per_minute", {kMinBytesPerSec * 60, 60 * kSec}},
        {"1gbit", {125'000'000, kSec}},
        {"400gbit", {kMaxBytesPerSec, kSec}},
    };
    for (const auto& [name, r] : byte_rates) {
        const u128 t_q16 = ((u128)r.period_ns << (RL_TIME_SHIFT + 16)) / r.count;
        EXPECT_GE(t_q16, (u128)1 << 16) << name << ": a byte must cost at least 1 q";
        for (uint64_t burst : {uint64_t{1}, uint64_t{1500}, uint64_t{1'000'000}}) {
            auto m = tokenBucketMeter({kNone, 0, r, burst});
            ASSERT_TRUE(m.ok()) << name << " burst " << burst << ": " << m.error().message();
            EXPECT_EQ(m->flags, RL_METER_F_BYTES);
            EXPECT_EQ(m->t_q16[1], (uint64_t)t_q16) << name;
            EXPECT_EQ(m->limit_q[1], (uint64_t)((burst * t_q16) >> 16)) << name;
        }
    }
    auto both = tokenBucketMeter({{1000, kSec}, 10, {125'000, kSec}, 3000});
    ASSERT_TRUE(both.ok());
    EXPECT_EQ(both->flags, RL_METER_F_PKTS | RL_METER_F_BYTES);

    struct W {
        bool sliding;
        uint64_t limit, window_ns;
    };
    for (const W& w : {W{true, 1, kMinWindowNs}, W{false, 1, kMaxWindowNs}, W{true, UINT32_MAX - 1, kMinWindowNs},
                       W{false, UINT32_MAX - 1, (1ull << 31) + 1},  // limit * W = 2^63 - 2
                       W{true, 106'751, kDay}}) {                    // largest limit for a day
        auto m = windowMeter({w.sliding, w.limit, w.window_ns});
        ASSERT_TRUE(m.ok()) << w.limit << " per " << w.window_ns << ": " << m.error().message();
        EXPECT_EQ(m->algo, w.sliding ? RL_ALGO_SLIDING_WINDOW : RL_ALGO_FIXED_WINDOW);
        EXPECT_EQ(m->window_limit, w.limit);
        EXPECT_EQ(m->window_ns, w.window_ns);
        EXPECT_LT((u128)w.limit * w.window_ns, (u128)1 << 63);
    }
    EXPECT_FALSE(windowMeter({true, 106'752, kDay}).ok());  // and one more does not fit
}

// The same rate written in different periods gives the same meter.
TEST(MeterParams, EquivalentRatesGiveTheSameMeter) {
    auto a = tokenBucketMeter({{100, kSec}, 7, {125'000, kSec}, 3000});
    auto b = tokenBucketMeter({{6000, 60 * kSec}, 7, {450'000'000, kHour}, 3000});
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->t_q16[0], b->t_q16[0]);
    EXPECT_EQ(a->t_q16[1], b->t_q16[1]);
    EXPECT_EQ(a->limit_q[0], b->limit_q[0]);
    EXPECT_EQ(a->limit_q[1], b->limit_q[1]);
}

// rl_cost_q is floor(units * t_q16 / 2^16) exactly, for every packet size and
// every byte-dimension t_q16 the params can produce (compared in 128 bits).
TEST(MeterParams, CostIsExactFloor) {
    std::mt19937_64 rng(7);
    const uint64_t t_min = tQ16({kMaxBytesPerSec, kSec}), t_max = tQ16({kMinBytesPerSec, kSec});
    ASSERT_LT(t_max, RL_MAX_T_Q16_BYTES);
    std::uniform_int_distribution<uint64_t> t_dist(t_min, t_max), size_dist(0, UINT32_MAX);
    for (int i = 0; i < 200'000; i++) {
        const uint64_t t = i % 3 ? t_dist(rng) : (i % 2 ? t_min : t_max);
        const uint64_t units = i % 5 ? size_dist(rng) % (i % 7 ? 65536 : UINT32_MAX) : UINT32_MAX - i % 2;
        ASSERT_EQ(rl_cost_q(units, t), (uint64_t)(((u128)units * t) >> 16)) << units << " x " << t;
    }
    // packets: one unit, any t_q16 up to the slowest accepted rate
    const uint64_t t_hour = tQ16({1, kHour});
    EXPECT_EQ(rl_cost_q(1, t_hour), t_hour >> 16);
}

}  // namespace
}  // namespace ratelimit
