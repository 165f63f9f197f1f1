// Address and CIDR parsing/formatting shared by config, rules, CLI and tests.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "util/result.hpp"

namespace ratelimit {

struct IpAddr {
    uint8_t family = 0;               // 4 or 6
    std::array<uint8_t, 16> bytes{};  // network order; IPv4 in the first 4 bytes
    bool operator==(const IpAddr&) const = default;
};

struct Cidr {
    IpAddr addr;                      // masked to prefix_len
    uint8_t prefix_len = 0;
    bool operator==(const Cidr&) const = default;
};

Result<IpAddr> parseIp(const std::string& text);
// "198.18.0.0/15", "2001:db8::/32", or a bare address (/32, /128).
// Host bits set is an error ("198.18.0.1/15 has host bits set").
Result<Cidr> parseCidr(const std::string& text);
std::string formatIp(const IpAddr& a);
std::string formatCidr(const Cidr& c);
IpAddr maskIp(const IpAddr& a, uint8_t prefix_len);
bool cidrContains(const Cidr& outer, const IpAddr& a);
// "tcp", "udp", "icmp", "icmpv6", else the protocol number.
std::string protoName(uint8_t proto);

}  // namespace ratelimit
