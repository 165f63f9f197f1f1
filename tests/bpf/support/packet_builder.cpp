#include "bpf/support/packet_builder.hpp"

#include <arpa/inet.h>

#include <stdexcept>

namespace ratelimit::test {
namespace {

constexpr uint8_t kProtoTcp = 6, kProtoUdp = 17, kProtoIcmp = 1, kProtoIcmp6 = 58;
constexpr uint8_t kProtoNone4 = 253;  // RFC 3692 experimental: no L4 header
constexpr uint8_t kProtoNone6 = 59;   // IPv6 No Next Header

void put16(Frame& f, uint16_t v) {
    f.push_back(uint8_t(v >> 8));
    f.push_back(uint8_t(v));
}
void put32(Frame& f, uint32_t v) {
    put16(f, uint16_t(v >> 16));
    put16(f, uint16_t(v));
}
void putMac(Frame& f, uint8_t last) {
    const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, last};
    f.insert(f.end(), mac, mac + 6);
}

uint16_t checksum(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t(p[i]) << 8) | p[i + 1];
    if (n & 1) sum += uint32_t(p[n - 1]) << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum);
}

}  // namespace

std::vector<uint8_t> parseAddr(const std::string& s) {
    uint8_t buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) return {buf, buf + 4};
    if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return {buf, buf + 16};
    throw std::invalid_argument("bad address: " + s);
}

PacketBuilder& PacketBuilder::vlan(uint16_t tpid, uint16_t vid) {
    vlans_.emplace_back(tpid, vid);
    return *this;
}

PacketBuilder& PacketBuilder::ipv4(const std::string& src, const std::string& dst) {
    auto s = parseAddr(src), d = parseAddr(dst);
    if (s.size() != 4 || d.size() != 4) throw std::invalid_argument("ipv4 needs IPv4 addresses");
    std::copy(s.begin(), s.end(), src_);
    std::copy(d.begin(), d.end(), dst_);
    l3_ = L3::V4;
    return *this;
}

PacketBuilder& PacketBuilder::ipv4Options(size_t bytes) {
    if (bytes % 4 || bytes > 40) throw std::invalid_argument("IPv4 options: multiple of 4, <= 40");
    v4_opts_ = bytes;
    return *this;
}

PacketBuilder& PacketBuilder::ipv4Fragment(bool more_fragments, uint16_t offset) {
    v4_mf_ = more_fragments;
    v4_frag_off_ = offset;
    return *this;
}

PacketBuilder& PacketBuilder::ipv6(const std::string& src, const std::string& dst) {
    auto s = parseAddr(src), d = parseAddr(dst);
    if (s.size() != 16 || d.size() != 16) throw std::invalid_argument("ipv6 needs IPv6 addresses");
    std::copy(s.begin(), s.end(), src_);
    std::copy(d.begin(), d.end(), dst_);
    l3_ = L3::V6;
    return *this;
}

PacketBuilder& PacketBuilder::ext6(Ext6 kind, size_t len) {
    if (kind == Ext6::Fragment) return ext6Fragment(false, 0);
    size_t unit = kind == Ext6::Ah ? 4 : 8;
    size_t min = kind == Ext6::Ah ? 12 : 8;
    if (len < min || len % unit) throw std::invalid_argument("ext6: bad length");
    exts_.push_back({kind, len});
    return *this;
}

PacketBuilder& PacketBuilder::ext6Fragment(bool more_fragments, uint16_t offset) {
    exts_.push_back({Ext6::Fragment, 8, offset, more_fragments});
    return *this;
}

PacketBuilder& PacketBuilder::ethertype(uint16_t type, size_t body_bytes) {
    l3_ = L3::Raw;
    raw_type_ = type;
    raw_body_ = body_bytes;
    return *this;
}

PacketBuilder& PacketBuilder::tcp(uint16_t sport, uint16_t dport) {
    l4_ = L4::Tcp;
    sport_ = sport;
    dport_ = dport;
    return *this;
}
PacketBuilder& PacketBuilder::udp(uint16_t sport, uint16_t dport) {
    l4_ = L4::Udp;
    sport_ = sport;
    dport_ = dport;
    return *this;
}
PacketBuilder& PacketBuilder::icmp() {
    l4_ = L4::Icmp;
    return *this;
}
PacketBuilder& PacketBuilder::l4proto(uint8_t proto, size_t header_bytes) {
    l4_ = L4::Other;
    other_proto_ = proto;
    other_len_ = header_bytes;
    return *this;
}
PacketBuilder& PacketBuilder::payload(size_t bytes) {
    payload_ = bytes;
    return *this;
}
PacketBuilder& PacketBuilder::forceIhl(uint8_t ihl) {
    ihl_ = ihl;
    return *this;
}
PacketBuilder& PacketBuilder::forceTotLen(uint16_t tot_len) {
    tot_len_ = tot_len;
    return *this;
}
PacketBuilder& PacketBuilder::forceVersion(uint8_t version) {
    version_ = version;
    return *this;
}
PacketBuilder& PacketBuilder::forceTcpDoff(uint8_t doff) {
    doff_ = doff;
    return *this;
}

Frame PacketBuilder::build() const {
    // L4 header + payload first: IP lengths depend on it.
    Frame l4;
    uint8_t proto = l3_ == L3::V6 ? kProtoNone6 : kProtoNone4;
    switch (l4_) {
    case L4::Tcp:
        proto = kProtoTcp;
        put16(l4, sport_);
        put16(l4, dport_);
        put32(l4, 1);                                   // seq
        put32(l4, 0);                                   // ack
        l4.push_back(uint8_t(doff_.value_or(5) << 4));  // data offset
        l4.push_back(0x02);                             // SYN
        put16(l4, 65535);                               // window
        put16(l4, 0);                                   // checksum (not verified by XDP)
        put16(l4, 0);                                   // urgent
        break;
    case L4::Udp:
        proto = kProtoUdp;
        put16(l4, sport_);
        put16(l4, dport_);
        put16(l4, uint16_t(8 + payload_));
        put16(l4, 0);
        break;
    case L4::Icmp:
        proto = l3_ == L3::V6 ? kProtoIcmp6 : kProtoIcmp;
        l4.push_back(l3_ == L3::V6 ? 128 : 8);  // echo request
        l4.push_back(0);
        put16(l4, 0);
        put32(l4, 0x00010001);  // id, seq
        break;
    case L4::Other:
        proto = other_proto_;
        l4.resize(other_len_, 0);
        break;
    case L4::None:
        break;
    }
    for (size_t i = 0; i < payload_; i++) l4.push_back(uint8_t(i));

    Frame f;
    putMac(f, 0x02);  // destination
    putMac(f, 0x01);  // source
    for (auto [tpid, vid] : vlans_) {
        put16(f, tpid);
        put16(f, vid & 0x0fff);  // TCI follows this tag; encap type written next
    }
    // Each tag is TPID + TCI; the ethertype after the last tag is the L3 type.
    switch (l3_) {
    case L3::None:
        throw std::logic_error("PacketBuilder: no network layer");
    case L3::Raw:
        put16(f, raw_type_);
        f.resize(f.size() + raw_body_, 0);
        return f;
    case L3::V4: {
        put16(f, kEthPIp);
        size_t hdr = 20 + v4_opts_;
        size_t start = f.size();
        uint8_t ihl = ihl_.value_or(uint8_t(hdr / 4));
        f.push_back(uint8_t(version_.value_or(4) << 4 | (ihl & 0x0f)));
        f.push_back(0);  // TOS
        put16(f, tot_len_.value_or(uint16_t(hdr + l4.size())));
        put16(f, 0x1234);  // id
        put16(f, uint16_t((v4_mf_ ? 0x2000 : 0) | (v4_frag_off_ & 0x1fff)));
        f.push_back(64);  // TTL
        f.push_back(proto);
        put16(f, 0);  // checksum, filled below
        f.insert(f.end(), src_, src_ + 4);
        f.insert(f.end(), dst_, dst_ + 4);
        for (size_t i = 0; i < v4_opts_; i++) f.push_back(1);  // NOP options
        uint16_t sum = checksum(&f[start], hdr);
        f[start + 10] = uint8_t(sum >> 8);
        f[start + 11] = uint8_t(sum);
        break;
    }
    case L3::V6: {
        put16(f, kEthPIpv6);
        size_t ext_bytes = 0;
        for (auto& e : exts_) ext_bytes += e.len;
        put32(f, uint32_t(version_.value_or(6)) << 28);
        put16(f, tot_len_.value_or(uint16_t(ext_bytes + l4.size())));
        f.push_back(exts_.empty() ? proto : uint8_t(exts_[0].kind));
        f.push_back(64);  // hop limit
        f.insert(f.end(), src_, src_ + 16);
        f.insert(f.end(), dst_, dst_ + 16);
        for (size_t i = 0; i < exts_.size(); i++) {
            const Ext& e = exts_[i];
            uint8_t next = i + 1 < exts_.size() ? uint8_t(exts_[i + 1].kind) : proto;
            f.push_back(next);
            if (e.kind == Ext6::Fragment) {
                f.push_back(0);
                put16(f, uint16_t((e.frag_off << 3) | (e.mf ? 1 : 0)));
                put32(f, 0xabcd);
                continue;
            }
            f.push_back(uint8_t(e.kind == Ext6::Ah ? e.len / 4 - 2 : e.len / 8 - 1));
            // options: PadN covering the rest (routing/AH: zeros are fine)
            size_t rest = e.len - 2;
            if (e.kind == Ext6::HopByHop || e.kind == Ext6::DestOpts) {
                f.push_back(1);
                f.push_back(uint8_t(rest - 2));
                rest -= 2;
            }
            f.resize(f.size() + rest, 0);
        }
        break;
    }
    }
    f.insert(f.end(), l4.begin(), l4.end());
    return f;
}

Frame udp4(const std::string& src, uint16_t dport, size_t payload) {
    return PacketBuilder().ipv4(src, "198.19.0.1").udp(40000, dport).payload(payload).build();
}
Frame tcp4(const std::string& src, uint16_t dport) {
    return PacketBuilder().ipv4(src, "198.19.0.1").tcp(40000, dport).build();
}
Frame udp6(const std::string& src) {
    return PacketBuilder().ipv6(src, "2001:db8:ffff::1").udp(40000, 5000).build();
}

Frame arpFrame() {
    Frame f;
    putMac(f, 0xff);
    putMac(f, 0x01);
    put16(f, kEthPArp);
    put16(f, 1);       // Ethernet
    put16(f, kEthPIp); // IPv4
    f.push_back(6);
    f.push_back(4);
    put16(f, 1);  // request
    putMac(f, 0x01);
    put32(f, 0xc6120001);  // 198.18.0.1
    putMac(f, 0x00);
    put32(f, 0xc6120002);
    return f;
}

Frame lldpFrame() {
    Frame f = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};
    putMac(f, 0x01);
    put16(f, kEthPLldp);
    // chassis id TLV (type 1, len 7, subtype MAC), port id TLV, TTL TLV, end
    const uint8_t tlvs[] = {0x02, 0x07, 0x04, 0x02, 0, 0, 0, 0, 1,
                            0x04, 0x02, 0x07, 0x31,
                            0x06, 0x02, 0x00, 0x78,
                            0x00, 0x00};
    f.insert(f.end(), tlvs, tlvs + sizeof(tlvs));
    return f;
}

Frame truncated(const Frame& f, size_t len) {
    return Frame(f.begin(), f.begin() + std::min(len, f.size()));
}

}  // namespace ratelimit::test
