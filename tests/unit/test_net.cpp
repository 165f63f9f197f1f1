#include <gtest/gtest.h>

#include "util/net.hpp"

namespace ratelimit {
namespace {

TEST(Net, ParsesAndFormatsAddresses) {
    struct Case {
        const char* in;
        uint8_t family;
        const char* formatted;
    } cases[] = {
        {"198.18.0.1", 4, "198.18.0.1"},
        {"0.0.0.0", 4, "0.0.0.0"},
        {"255.255.255.255", 4, "255.255.255.255"},
        {"2001:db8::1", 6, "2001:db8::1"},
        {"2001:DB8:0:0::1", 6, "2001:db8::1"},
        {"::", 6, "::"},
        {"::ffff:198.18.0.1", 6, "::ffff:198.18.0.1"},
    };
    for (const auto& c : cases) {
        auto a = parseIp(c.in);
        ASSERT_TRUE(a) << c.in << ": " << a.error().message();
        EXPECT_EQ(a->family, c.family) << c.in;
        EXPECT_EQ(formatIp(*a), c.formatted) << c.in;
    }
}

TEST(Net, RejectsBadAddresses) {
    for (const char* in : {"", "198.18.0", "198.18.0.256", "1.2.3.4 ", " 1.2.3.4", "2001:db8:::1", "abc", "1.2.3.4/32"}) {
        auto a = parseIp(in);
        ASSERT_FALSE(a) << in;
        EXPECT_NE(a.error().message().find("is not an IPv4 or IPv6 address"), std::string::npos)
            << a.error().message();
    }
}

TEST(Net, ParsesCidrs) {
    struct Case {
        const char* in;
        uint8_t prefix;
        const char* formatted;
    } cases[] = {
        {"198.18.0.0/15", 15, "198.18.0.0/15"},
        {"198.18.0.1", 32, "198.18.0.1/32"},
        {"0.0.0.0/0", 0, "0.0.0.0/0"},
        {"10.1.2.3/32", 32, "10.1.2.3/32"},
        {"2001:db8::/32", 32, "2001:db8::/32"},
        {"2001:db8::1", 128, "2001:db8::1/128"},
        {"::/0", 0, "::/0"},
        {"2001:db8:ab00::/40", 40, "2001:db8:ab00::/40"},
    };
    for (const auto& c : cases) {
        auto r = parseCidr(c.in);
        ASSERT_TRUE(r) << c.in << ": " << r.error().message();
        EXPECT_EQ(r->prefix_len, c.prefix) << c.in;
        EXPECT_EQ(formatCidr(*r), c.formatted) << c.in;
        auto again = parseCidr(formatCidr(*r));
        ASSERT_TRUE(again);
        EXPECT_EQ(*again, *r) << c.in;
    }
}

TEST(Net, CidrErrorsNameTheProblem) {
    struct Case {
        const char* in;
        const char* message;
    } cases[] = {
        {"198.18.0.1/15", "198.18.0.1/15 has host bits set (did you mean 198.18.0.0/15?)"},
        {"10.0.0.0/33", "prefix length 33 out of range for IPv4"},
        {"2001:db8::/129", "prefix length 129 out of range for IPv6"},
        {"2001:db8::1/64", "2001:db8::1/64 has host bits set (did you mean 2001:db8::/64?)"},
        {"10.0.0.0/", "prefix length '' is not a number"},
        {"10.0.0.0/+8", "prefix length '+8' is not a number"},
        {"10.0.0.0/8x", "prefix length '8x' is not a number"},
        {"10.0.0/8", "'10.0.0' in '10.0.0/8' is not an IPv4 or IPv6 address"},
        {"foo", "'foo' is not an IPv4 or IPv6 address or prefix"},
    };
    for (const auto& c : cases) {
        auto r = parseCidr(c.in);
        ASSERT_FALSE(r) << c.in;
        EXPECT_NE(r.error().message().find(c.message), std::string::npos)
            << c.in << " -> " << r.error().message();
    }
}

TEST(Net, MasksAndContains) {
    struct Case {
        const char* cidr;
        const char* ip;
        bool inside;
    } cases[] = {
        {"198.18.0.0/15", "198.19.255.255", true},
        {"198.18.0.0/15", "198.20.0.0", false},
        {"198.18.0.0/15", "198.17.255.255", false},
        {"0.0.0.0/0", "203.0.113.9", true},
        {"0.0.0.0/0", "::1", false},
        {"::/0", "2001:db8::1", true},
        {"::/0", "1.2.3.4", false},
        {"2001:db8::/33", "2001:db8:7fff::1", true},
        {"2001:db8::/33", "2001:db8:8000::1", false},
        {"10.1.2.3/32", "10.1.2.3", true},
        {"10.1.2.3/32", "10.1.2.4", false},
    };
    for (const auto& c : cases) {
        auto n = parseCidr(c.cidr);
        auto a = parseIp(c.ip);
        ASSERT_TRUE(n && a);
        EXPECT_EQ(cidrContains(*n, *a), c.inside) << c.cidr << " " << c.ip;
    }
    auto a = parseIp("2001:db8:abcd:ef01::1");
    ASSERT_TRUE(a);
    EXPECT_EQ(formatIp(maskIp(*a, 36)), "2001:db8:a000::");
    EXPECT_EQ(formatIp(maskIp(*a, 0)), "::");
    EXPECT_EQ(formatIp(maskIp(*a, 128)), "2001:db8:abcd:ef01::1");
    auto b = parseIp("198.18.77.200");
    ASSERT_TRUE(b);
    EXPECT_EQ(formatIp(maskIp(*b, 20)), "198.18.64.0");
    EXPECT_EQ(formatIp(maskIp(*b, 31)), "198.18.77.200");
    EXPECT_EQ(formatIp(maskIp(*b, 29)), "198.18.77.200");
    EXPECT_EQ(formatIp(maskIp(*b, 28)), "198.18.77.192");
}

}  // namespace
}  // namespace ratelimit
