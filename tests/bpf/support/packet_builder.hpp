// Builds test frames byte by byte: Ethernet, 0..n VLAN tags, IPv4 (options,
// fragments) or IPv6 (extension header chains), TCP/UDP/ICMP/ICMPv6 or none,
// payload; plus non-IP frames (ARP, LLDP). Fields can be forced to invalid
// values (IHL, tot_len, version) to build malformed headers on purpose.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ratelimit::test {

using Frame = std::vector<uint8_t>;

inline constexpr uint16_t kEthP8021Q = 0x8100;
inline constexpr uint16_t kEthP8021AD = 0x88A8;
inline constexpr uint16_t kEthPIp = 0x0800;
inline constexpr uint16_t kEthPIpv6 = 0x86DD;
inline constexpr uint16_t kEthPArp = 0x0806;
inline constexpr uint16_t kEthPLldp = 0x88CC;

// IPv6 extension header kinds the builder can chain.
enum class Ext6 : uint8_t {
    HopByHop = 0,
    Routing = 43,
    Fragment = 44,
    DestOpts = 60,
    Ah = 51,
};

class PacketBuilder {
public:
    // Adds a VLAN tag; the first call is the outermost tag.
    PacketBuilder& vlan(uint16_t tpid, uint16_t vid);

    // Network layer (exactly one of ipv4/ipv6/ethertype).
    PacketBuilder& ipv4(const std::string& src, const std::string& dst);
    PacketBuilder& ipv4Options(size_t bytes);                 // multiple of 4, <= 40
    PacketBuilder& ipv4Fragment(bool more_fragments, uint16_t offset_8byte_units);
    PacketBuilder& ipv6(const std::string& src, const std::string& dst);
    // Appends one extension header. `len` is its total size in bytes (rounded
    // to the header's unit: 8 for options/routing, 4 for AH; fixed 8 for fragment).
    PacketBuilder& ext6(Ext6 kind, size_t len = 8);
    PacketBuilder& ext6Fragment(bool more_fragments, uint16_t offset_8byte_units);
    PacketBuilder& ethertype(uint16_t type, size_t body_bytes); // non-IP body of zeros

    // Transport layer.
    PacketBuilder& tcp(uint16_t sport, uint16_t dport);
    PacketBuilder& udp(uint16_t sport, uint16_t dport);
    PacketBuilder& icmp();      // ICMP echo for IPv4, ICMPv6 echo for IPv6
    PacketBuilder& l4proto(uint8_t proto, size_t header_bytes); // any other protocol
    PacketBuilder& payload(size_t bytes);

    // Deliberately broken fields.
    PacketBuilder& forceIhl(uint8_t ihl);
    PacketBuilder& forceTotLen(uint16_t tot_len);        // IPv4 tot_len / IPv6 payload_len
    PacketBuilder& forceVersion(uint8_t version);
    PacketBuilder& forceTcpDoff(uint8_t doff);

    Frame build() const;

private:
    struct Ext {
        Ext6 kind;
        size_t len;
        uint16_t frag_off = 0;
        bool mf = false;
    };
    enum class L3 { None, V4, V6, Raw };
    enum class L4 { None, Tcp, Udp, Icmp, Other };

    std::vector<std::pair<uint16_t, uint16_t>> vlans_;
    L3 l3_ = L3::None;
    uint16_t raw_type_ = 0;
    size_t raw_body_ = 0;
    uint8_t src_[16] = {}, dst_[16] = {};
    size_t v4_opts_ = 0;
    bool v4_mf_ = false;
    uint16_t v4_frag_off_ = 0;
    std::vector<Ext> exts_;
    L4 l4_ = L4::None;
    uint8_t other_proto_ = 0;
    size_t other_len_ = 0;
    uint16_t sport_ = 0, dport_ = 0;
    size_t payload_ = 0;
    std::optional<uint8_t> ihl_, version_, doff_;
    std::optional<uint16_t> tot_len_;
};

// Common frames.
Frame arpFrame();
Frame lldpFrame();
// UDP/TCP from `src` to 198.19.0.1 (IPv4) or 2001:db8:ffff::1 (IPv6), source port 40000.
Frame udp4(const std::string& src, uint16_t dport = 5000, size_t payload = 0);
Frame tcp4(const std::string& src, uint16_t dport);
Frame udp6(const std::string& src);

// First `len` bytes of a frame.
Frame truncated(const Frame& f, size_t len);

// Parses "198.18.0.1" or "2001:db8::1" into network-order bytes (4 or 16); throws on error.
std::vector<uint8_t> parseAddr(const std::string& s);

}  // namespace ratelimit::test
