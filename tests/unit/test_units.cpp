#include <gtest/gtest.h>

#include "config/config.hpp"

namespace ratelimit {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

struct RateCase {
    const char* in;
    uint64_t count;
    uint64_t period_ns;
};

TEST(Units, PacketRates) {
    const RateCase cases[] = {
        {"1000/s", 1000, kSec},
        {"6000/min", 6000, 60 * kSec},
        {"10/h", 10, 3600 * kSec},
        {"1/hour", 1, 3600 * kSec},
        {"100k/s", 100000, kSec},
        {"2M/s", 2000000, kSec},
        {"1G/s", 1000000000, kSec},
        {"1000pps", 1000, kSec},
        {"100kpps", 100000, kSec},
        {"5/sec", 5, kSec},
        {"5/second", 5, kSec},
        {"30/minute", 30, 60 * kSec},
        {"30/m", 30, 60 * kSec},
        {"24/day", 24, 86400 * kSec},
        {"10/5s", 10, 5 * kSec},
        {"1/100ms", 1, 100'000'000},
        {"1.5k/s", 1500, kSec},
        {"2.5/s", 5, 2 * kSec},  // decimal factor reduced: 25/10s == 5/2s
        {" 1000 / s ", 1000, kSec},
        {"1000 /s", 1000, kSec},
    };
    for (const auto& c : cases) {
        auto r = parsePacketRate(c.in);
        ASSERT_TRUE(r) << c.in << ": " << r.error().message();
        EXPECT_EQ(r->count, c.count) << c.in;
        EXPECT_EQ(r->period_ns, c.period_ns) << c.in;
    }
}

TEST(Units, ByteRates) {
    const RateCase cases[] = {
        {"10MB/s", 10'000'000, kSec},
        {"10MiB/s", 10ull << 20, kSec},
        {"100Mbit/s", 12'500'000, kSec},
        {"1Gbit/s", 125'000'000, kSec},
        {"400Gbit/s", 50'000'000'000, kSec},
        {"1kbit/s", 125, kSec},
        {"125B/s", 125, kSec},
        {"1bit/s", 1, 8 * kSec},
        {"3bit/min", 3, 8 * 60 * kSec},
        {"1Gbps", 125'000'000, kSec},
        {"100Mbps", 12'500'000, kSec},
        {"10MBps", 10'000'000, kSec},
        {"64KiB/s", 65536, kSec},
        {"1.5MB/s", 1'500'000, kSec},
        {"10 MB/s", 10'000'000, kSec},
        {"1TB/h", 1'000'000'000'000, 3600 * kSec},
    };
    for (const auto& c : cases) {
        auto r = parseByteRate(c.in);
        ASSERT_TRUE(r) << c.in << ": " << r.error().message();
        EXPECT_EQ(r->count, c.count) << c.in;
        EXPECT_EQ(r->period_ns, c.period_ns) << c.in;
    }
}

TEST(Units, Durations) {
    const struct {
        const char* in;
        uint64_t ns;
    } cases[] = {
        {"30s", 30 * kSec},   {"500ms", 500'000'000}, {"2m", 120 * kSec}, {"1h", 3600 * kSec},
        {"100us", 100'000},   {"7ns", 7},             {"1d", 86400 * kSec}, {"1.5s", 1'500'000'000},
        {"10min", 600 * kSec}, {"2 hours", 7200 * kSec}, {"0.5ms", 500'000}, {"3sec", 3 * kSec},
    };
    for (const auto& c : cases) {
        auto r = parseDurationNs(c.in);
        ASSERT_TRUE(r) << c.in << ": " << r.error().message();
        EXPECT_EQ(*r, c.ns) << c.in;
    }
}

TEST(Units, Sizes) {
    const struct {
        const char* in;
        uint64_t bytes;
    } cases[] = {{"1500", 1500}, {"1MB", 1'000'000}, {"64KiB", 65536}, {"1.5kB", 1500}, {"2 GiB", 2ull << 30}};
    for (const auto& c : cases) {
        auto r = parseByteSize(c.in);
        ASSERT_TRUE(r) << c.in << ": " << r.error().message();
        EXPECT_EQ(*r, c.bytes) << c.in;
    }
}

struct ErrCase {
    const char* in;
    const char* message;
};

TEST(Units, ErrorsNameTheProblem) {
    const ErrCase packet[] = {
        {"", "expected a number"},
        {"fast", "expected a number"},
        {"1000", "missing '/period' or 'pps'"},
        {"1000/", "missing time unit after '/'"},
        {"1000/fortnight", "unknown time unit 'fortnight'"},
        {"1000/0s", "the period must not be zero"},
        {"1000 per second", "unknown unit 'per second'"},
        {"0/s", "rate must be positive"},
        {"-5/s", "expected a number"},
        {"99999999999999999999999/s", "number too large"},
        {"1/1.5s", "the period must be a whole number of units"},
        {"100000000000T/s", "rate too large"},
    };
    for (const auto& c : packet) {
        auto r = parsePacketRate(c.in);
        ASSERT_FALSE(r) << c.in;
        EXPECT_NE(r.error().message().find(c.message), std::string::npos) << c.in << " -> " << r.error().message();
        EXPECT_NE(r.error().message().find("packet rate"), std::string::npos) << r.error().message();
    }
    const ErrCase bytes[] = {
        {"10", "missing unit"},
        {"10/s", "missing size unit before '/'"},
        {"10MX/s", "unknown size unit 'MX'"},
        {"10Mb/s", "unknown size unit 'Mb'"},
        {"10MB", "unknown unit 'MB'"},
        {"10MB/x", "unknown time unit 'x'"},
        {"0MB/s", "rate must be positive"},
    };
    for (const auto& c : bytes) {
        auto r = parseByteRate(c.in);
        ASSERT_FALSE(r) << c.in;
        EXPECT_NE(r.error().message().find(c.message), std::string::npos) << c.in << " -> " << r.error().message();
    }
    const ErrCase durations[] = {
        {"30", "missing unit"},
        {"30 lightyears", "unknown unit 'lightyears'"},
        {"s", "expected a number"},
        {"0.5ns", "not a whole number of nanoseconds"},
        {"999999999999d", "too long"},
    };
    for (const auto& c : durations) {
        auto r = parseDurationNs(c.in);
        ASSERT_FALSE(r) << c.in;
        EXPECT_NE(r.error().message().find(c.message), std::string::npos) << c.in << " -> " << r.error().message();
    }
    const ErrCase sizes[] = {{"1Mbit", "sizes are in bytes, not bits"}, {"1.5", "not a whole number of bytes"},
                             {"5 apples", "unknown size unit 'apples'"}};
    for (const auto& c : sizes) {
        auto r = parseByteSize(c.in);
        ASSERT_FALSE(r) << c.in;
        EXPECT_NE(r.error().message().find(c.message), std::string::npos) << c.in << " -> " << r.error().message();
    }
}

TEST(Units, FormatIsExactAndParsesBack) {
    const struct {
        Rate r;
        const char* packets;
        const char* bytes;
    } cases[] = {
        {{6000, 60 * kSec}, "6000/min", "6kB/min"},
        {{1000, kSec}, "1000/s", "1kB/s"},
        {{5, 2 * kSec}, "5/2s", "5B/2s"},
        {{10, 3600 * kSec}, "10/h", "10B/h"},
        {{1, 8 * kSec}, "1/8s", "1B/8s"},
        {{12'500'000, kSec}, "12500000/s", "12500kB/s"},
        {{50'000'000'000, kSec}, "50000000000/s", "50GB/s"},
        {{3, 1'500'000}, "3/1500us", "3B/1500us"},
        {{7, 86400 * kSec}, "7/day", "7B/day"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(formatPacketRate(c.r), c.packets);
        EXPECT_EQ(formatByteRate(c.r), c.bytes);
        auto p = parsePacketRate(formatPacketRate(c.r));
        ASSERT_TRUE(p) << formatPacketRate(c.r) << ": " << p.error().message();
        EXPECT_EQ(p->count, c.r.count);
        EXPECT_EQ(p->period_ns, c.r.period_ns);
        auto b = parseByteRate(formatByteRate(c.r));
        ASSERT_TRUE(b) << formatByteRate(c.r) << ": " << b.error().message();
        EXPECT_EQ(b->count, c.r.count);
        EXPECT_EQ(b->period_ns, c.r.period_ns);
    }
    for (uint64_t ns : {uint64_t{0}, uint64_t{7}, uint64_t{1000}, uint64_t{1500000}, 30 * kSec, 90 * kSec, 7200 * kSec,
                        86400 * kSec, 86401 * kSec}) {
        auto d = parseDurationNs(formatDuration(ns));
        ASSERT_TRUE(d) << formatDuration(ns);
        EXPECT_EQ(*d, ns) << formatDuration(ns);
    }
    EXPECT_EQ(formatDuration(30 * kSec), "30s");
    EXPECT_EQ(formatDuration(90 * kSec), "90s");
    EXPECT_EQ(formatDuration(600 * kSec), "10m");
}

TEST(Units, DefaultBurstIsOneSecondAtLeastOne) {
    const struct {
        Rate r;
        uint64_t burst;
    } cases[] = {
        {{1000, kSec}, 1000}, {{6000, 60 * kSec}, 100}, {{10, 3600 * kSec}, 1},
        {{1, 100'000'000}, 10}, {{3, 2 * kSec}, 1}, {{125'000'000, kSec}, 125'000'000},
    };
    for (const auto& c : cases) EXPECT_EQ(defaultBurst(c.r), c.burst) << c.r.count << "/" << c.r.period_ns;
}

}  // namespace
}  // namespace ratelimit
