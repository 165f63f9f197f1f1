// libFuzzer harness: the unit and address parsers (rates, sizes, durations,
// IPs, CIDRs). Invariants: every accepted value formats to text that parses
// back to the same value (the formatters claim to be exact), CIDRs come back
// masked, and parsing never crashes or trips UBSan (overflow in unit math).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "util/net.hpp"

using namespace ratelimit;

namespace {
[[noreturn]] void fail(const char* what, const std::string& in, const std::string& out) {
    std::fprintf(stderr, "fuzz_units invariant violated: %s: input '%s' formatted '%s'\n", what, in.c_str(),
                 out.c_str());
    std::abort();
}

// Rates are equal when they describe the same count per time.
bool sameRate(const Rate& a, const Rate& b) {
    return static_cast<unsigned __int128>(a.count) * b.period_ns ==
           static_cast<unsigned __int128>(b.count) * a.period_ns;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);

    if (auto r = parsePacketRate(text)) {
        std::string f = formatPacketRate(*r);
        auto back = parsePacketRate(f);
        if (!back || !sameRate(*back, *r)) fail("packet rate round trip", text, f);
    }
    if (auto r = parseByteRate(text)) {
        std::string f = formatByteRate(*r);
        auto back = parseByteRate(f);
        if (!back || !sameRate(*back, *r)) fail("byte rate round trip", text, f);
    }
    if (auto d = parseDurationNs(text)) {
        std::string f = formatDuration(*d);
        auto back = parseDurationNs(f);
        if (!back || *back != *d) fail("duration round trip", text, f);
    }
    (void)parseByteSize(text);
    if (auto ip = parseIp(text)) {
        if (ip->family != 4 && ip->family != 6) fail("ip family", text, std::to_string(ip->family));
        std::string f = formatIp(*ip);
        auto back = parseIp(f);
        if (!back || !(*back == *ip)) fail("ip round trip", text, f);
    }
    if (auto c = parseCidr(text)) {
        unsigned max = c->addr.family == 4 ? 32 : 128;
        if (c->prefix_len > max) fail("prefix length", text, std::to_string(c->prefix_len));
        if (!(maskIp(c->addr, c->prefix_len) == c->addr)) fail("cidr not masked", text, formatCidr(*c));
        if (!cidrContains(*c, c->addr)) fail("cidr does not contain its address", text, formatCidr(*c));
        std::string f = formatCidr(*c);
        auto back = parseCidr(f);
        if (!back || !(*back == *c)) fail("cidr round trip", text, f);
    }
    return 0;
}
