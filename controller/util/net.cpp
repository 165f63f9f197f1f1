#include "util/net.hpp"

#include <netinet/in.h>

#include <arpa/inet.h>

#include <cstring>

namespace ratelimit {
namespace {

uint8_t maxPrefix(uint8_t family) { return family == 4 ? 32 : 128; }

// Digits only: "+8", " 8", "0x8" and "" are not prefix lengths.
bool parseDecimal(const std::string& s, unsigned long& out) {
    if (s.empty() || s.size() > 6) return false;
    unsigned long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned long>(c - '0');
    }
    out = v;
    return true;
}

}  // namespace

Result<IpAddr> parseIp(const std::string& text) {
    IpAddr a;
    if (text.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
            a.family = 4;
            return a;
        }
    } else if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
        a.family = 6;
        return a;
    }
    return invalid("address", "'" + text + "' is not an IPv4 or IPv6 address");
}

Result<Cidr> parseCidr(const std::string& text) {
    auto slash = text.find('/');
    std::string host = text.substr(0, slash);
    auto ip = parseIp(host);
    if (!ip) {
        if (slash == std::string::npos)
            return invalid("CIDR", "'" + text + "' is not an IPv4 or IPv6 address or prefix");
        return invalid("CIDR", "'" + host + "' in '" + text + "' is not an IPv4 or IPv6 address");
    }
    Cidr c;
    c.prefix_len = maxPrefix(ip->family);
    if (slash != std::string::npos) {
        std::string len = text.substr(slash + 1);
        unsigned long v = 0;
        if (!parseDecimal(len, v))
            return invalid("CIDR", "'" + text + "': prefix length '" + len + "' is not a number");
        if (v > maxPrefix(ip->family))
            return invalid("CIDR", "'" + text + "': prefix length " + len + " out of range for " +
                                       (ip->family == 4 ? "IPv4 (0-32)" : "IPv6 (0-128)"));
        c.prefix_len = static_cast<uint8_t>(v);
    }
    c.addr = maskIp(*ip, c.prefix_len);
    if (!(c.addr == *ip))
        return invalid("CIDR", text + " has host bits set (did you mean " + formatCidr(c) + "?)");
    return c;
}

std::string formatIp(const IpAddr& a) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.family == 4) {
        inet_ntop(AF_INET, a.bytes.data(), buf, sizeof(buf));
    } else if (a.family == 6) {
        inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof(buf));
    } else {
        return "?";
    }
    return buf;
}

std::string formatCidr(const Cidr& c) {
    return formatIp(c.addr) + "/" + std::to_string(c.prefix_len);
}

IpAddr maskIp(const IpAddr& a, uint8_t prefix_len) {
    IpAddr m = a;
    unsigned total = a.family == 4 ? 4 : 16;
    unsigned bits = prefix_len;
    for (unsigned i = 0; i < m.bytes.size(); i++) {
        if (i >= total || bits == 0) {
            m.bytes[i] = 0;
        } else if (bits >= 8) {
            bits -= 8;
        } else {
            m.bytes[i] &= static_cast<uint8_t>(0xff00u >> bits);
            bits = 0;
        }
    }
    return m;
}

bool cidrContains(const Cidr& outer, const IpAddr& a) {
    if (outer.addr.family != a.family) return false;
    return maskIp(a, outer.prefix_len) == outer.addr;
}

std::string protoName(uint8_t p) {
    switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
    default: return std::to_string(p);
    }
}

}  // namespace ratelimit
