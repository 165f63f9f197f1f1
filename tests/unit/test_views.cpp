// keys.show decoding (views::stateJson) against states produced by the real
// dual-compiled meters: after k back-to-back packets a bucket of burst b shows
// b - k tokens, refills at the configured rate, and never exceeds b.
#include <gtest/gtest.h>

#include <netinet/in.h>

#include <cmath>

#include "app/views.hpp"
#include "bpf/lib/gcra.h"
#include "bpf/lib/token_bucket.h"
#include "bpf/lib/window.h"
#include "rules/meter_params.hpp"

namespace ratelimit {
namespace {

constexpr uint64_t kSec = RL_NSEC_PER_SEC;
constexpr uint64_t kT0 = 1000 * kSec;  // an arbitrary uptime

struct TbCase {
    uint64_t rate_per_s, burst, sent, later_ms;
};

TEST(Views, TokenBucketTokensAfterPacketsAndRefill) {
    const TbCase cases[] = {
        {100, 10, 0, 0}, {100, 10, 4, 0}, {100, 10, 10, 0}, {100, 10, 10, 50},
        {100, 10, 10, 5000}, {5, 5, 3, 200}, {1000, 2000, 1500, 100},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(testing::Message() << c.rate_per_s << "/s burst " << c.burst << " sent " << c.sent << " +"
                                        << c.later_ms << "ms");
        auto m = tokenBucketMeter({Rate{c.rate_per_s, kSec}, c.burst, Rate{}, 0});
        ASSERT_TRUE(m.ok()) << m.error().message();
        rl_state st{};
        st.meta = RL_ST_META(RL_ALGO_TOKEN_BUCKET, 3);
        uint64_t sent = 0;
        for (uint64_t i = 0; i < c.sent; ++i) sent += rl_tb_conform(&*m, st.w, rl_now_q(kT0), 64);
        ASSERT_EQ(sent, std::min(c.sent, c.burst));
        uint64_t now = kT0 + c.later_ms * 1'000'000;
        Json s = views::stateJson(*m, st, 3, now);
        double refill = std::floor(static_cast<double>(c.rate_per_s) * c.later_ms / 1000.0);
        double want = std::min<double>(c.burst, c.burst - sent + refill);
        // the meter rounds costs down (< 1 q per packet), so allow one token of slack
        EXPECT_NEAR(s["tokens_packets"].get<double>(), want, 1.0);
        EXPECT_EQ(s["capacity_packets"].get<double>(), c.burst);
        EXPECT_FALSE(s["stale"].get<bool>());
        EXPECT_FALSE(s.contains("tokens_bytes"));
    }
}

TEST(Views, GcraShowsBackToBackAllowance) {
    auto m = gcraMeter({Rate{10, kSec}, 4});
    ASSERT_TRUE(m.ok()) << m.error().message();
    rl_state st{};
    st.meta = RL_ST_META(RL_ALGO_GCRA, 1);
    EXPECT_EQ(views::stateJson(*m, st, 1, kT0)["tokens_packets"].get<double>(), 4);
    int ok = 0;
    while (rl_gcra_conform(&*m, &st.w[0], rl_now_q(kT0))) ++ok;
    EXPECT_EQ(ok, 4);
    EXPECT_EQ(views::stateJson(*m, st, 1, kT0)["tokens_packets"].get<double>(), 0);
    EXPECT_NEAR(views::stateJson(*m, st, 1, kT0 + kSec / 10)["tokens_packets"].get<double>(), 1, 0.001);
}

TEST(Views, WindowCountsAndStaleness) {
    auto m = windowMeter({true, 5, 60 * kSec});
    ASSERT_TRUE(m.ok()) << m.error().message();
    rl_state st{};
    st.meta = RL_ST_META(RL_ALGO_SLIDING_WINDOW, 7);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(rl_window_conform(&*m, &st.w[0], &st.w[1], kT0));
    Json s = views::stateJson(*m, st, 7, kT0 + kSec);
    EXPECT_EQ(s["current"], 3);
    EXPECT_EQ(s["previous"], 0);
    EXPECT_EQ(s["limit"], 5);
    EXPECT_DOUBLE_EQ(s["window_age_ms"].get<double>(), 1000.0);
    EXPECT_TRUE(views::stateJson(*m, st, 8, kT0)["stale"].get<bool>()) << "rule generation moved on";
}

TEST(Views, LastSeenAcrossTheWrap) {
    const uint64_t unit = 1ull << RL_SEEN_SHIFT;
    EXPECT_NEAR(views::lastSeenAgoS(static_cast<uint32_t>(kT0 >> RL_SEEN_SHIFT), kT0 + 2 * kSec), 2.0, 0.002);
    uint64_t wrap = (1ull << 32) * unit;  // the 32-bit seen counter wraps here
    uint32_t seen = static_cast<uint32_t>((wrap - 3 * unit) >> RL_SEEN_SHIFT);
    EXPECT_NEAR(views::lastSeenAgoS(seen, wrap + 2 * unit), 5.0 * unit / 1e9, 1e-9);
}

TEST(Views, RateTextAndRuleJson) {
    EXPECT_EQ(views::rateText({1000, kSec}, ""), "1000/s");
    EXPECT_EQ(views::rateText({6000, 60 * kSec}, ""), "6000/min");
    EXPECT_EQ(views::rateText({10, 3600 * kSec}, ""), "10/h");
    EXPECT_EQ(views::rateText({0, kSec}, ""), "");
    RuleConfig r;
    r.name = "web";
    r.proto = IPPROTO_TCP;
    r.ports = {{80, 80}, {8000, 8080}};
    MeterConfig t;
    t.packets = {50, kSec};
    t.burst_packets = 5;
    r.tiers.push_back(t);
    Json j = views::ruleJson(r, 3, "runtime");
    EXPECT_EQ(j["id"], 3);
    EXPECT_EQ(j["proto"], "tcp");
    EXPECT_EQ(j["ports"], Json::array({"80", "8000-8080"}));
    EXPECT_EQ(j["tiers"][0]["packets"], "50/s");
    EXPECT_EQ(j["tiers"][0]["burst_packets"], 5);
    EXPECT_EQ(j["origin"], "runtime");
}

}  // namespace
}  // namespace ratelimit
