// Every packet kind the parser knows -> verdict + counter deltas; every frame
// truncated at every byte offset -> MALFORMED or NON_IP, never a crash.
// Semantics under test: bpf/lib/parsing.bpf.h (header comment).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

#include <functional>

#include "bpf/support/xdp_fixture.hpp"

namespace ratelimit::test {
namespace {

constexpr uint16_t kDenyRule = 1;      // UDP dport 53 anywhere: proves ports are parsed
constexpr uint16_t kIcmpRule = 2;      // ICMP / ICMPv6: proves the protocol is parsed
constexpr uint16_t kTcpRule = 3;       // TCP dport 80
constexpr uint8_t kIcmp6 = 58;

// every rule row this suite can touch
const std::vector<uint32_t> kRows = {RL_RULE_DEFAULT, kDenyRule, kIcmpRule, kTcpRule, RL_RULE_NONE};

const char* kS4 = "198.18.0.1";
const char* kD4 = "198.18.0.2";
const char* kS6 = "2001:db8::1";
const char* kD6 = "2001:db8::2";

struct Case {
    const char* name;
    std::function<Frame()> frame;
    int verdict;
    uint32_t rule;
    uint32_t reason;
    bool ip;              // counted bytes are L3 bytes (IP total length)
    size_t l2 = 14;       // bytes before the IP header
};

PacketBuilder v4() { return std::move(PacketBuilder().ipv4(kS4, kD4)); }
PacketBuilder v6() { return std::move(PacketBuilder().ipv6(kS6, kD6)); }

std::vector<Case> cases() {
    const uint32_t none = RL_RULE_NONE;
    return {
        {"ipv4_udp53_deny", [] { return v4().udp(1000, 53).payload(12).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        {"ipv4_udp54_default", [] { return v4().udp(1000, 54).build(); }, XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW, true},
        {"ipv4_tcp80", [] { return v4().tcp(1000, 80).build(); }, XDP_PASS, kTcpRule, RL_REASON_ALLOW, true},
        {"ipv4_tcp81_default", [] { return v4().tcp(1000, 81).build(); }, XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW, true},
        {"ipv4_icmp", [] { return v4().icmp().payload(56).build(); }, XDP_PASS, kIcmpRule, RL_REASON_ALLOW, true},
        {"ipv4_big_payload", [] { return v4().udp(1, 53).payload(1400).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        {"ipv4_no_l4", [] { return v4().payload(30).build(); }, XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW, true},
        {"ipv4_gre_header_only", [] { return v4().l4proto(47, 4).build(); }, XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW, true},
        {"vlan_8021q_udp53", [] { return v4().vlan(kEthP8021Q, 10).udp(1, 53).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true, 18},
        {"qinq_udp53", [] { return v4().vlan(kEthP8021AD, 100).vlan(kEthP8021Q, 10).udp(1, 53).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true, 22},
        {"qinq_ipv6_udp53", [] { return v6().vlan(kEthP8021AD, 100).vlan(kEthP8021Q, 10).udp(1, 53).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true, 22},
        {"ipv4_options_udp53", [] { return v4().ipv4Options(40).udp(1, 53).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        {"ipv4_options4_tcp80", [] { return v4().ipv4Options(4).tcp(1, 80).build(); }, XDP_PASS, kTcpRule, RL_REASON_ALLOW, true},
        {"ipv4_first_fragment_udp53", [] { return v4().ipv4Fragment(true, 0).udp(1, 53).payload(64).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        // a non-first fragment has no L4 header: dport 0, so the port rule does not match
        {"ipv4_nonfirst_fragment", [] { return v4().ipv4Fragment(false, 100).udp(1, 53).payload(64).build(); }, XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW, true},
        {"ipv4_nonfirst_fragment_short", [] { return v4().ipv4Fragment(true, 7).l4proto(17, 2).build(); }, XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW, true},
        {"ipv6_udp53", [] { return v6().udp(1, 53).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        {"ipv6_tcp80", [] { return v6().tcp(1, 80).build(); }, XDP_PASS, kTcpRule, RL_REASON_ALLOW, true},
        {"ipv6_icmpv6", [] { return v6().icmp().payload(8).build(); }, XDP_PASS, kIcmpRule, RL_REASON_ALLOW, true},
        {"ipv6_no_next_header", [] { return v6().payload(20).build(); }, XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW, true},
        {"ipv6_hbh_udp53", [] { return v6().ext6(Ext6::HopByHop, 8).udp(1, 53).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        {"ipv6_hbh_rt_dst_udp53", [] { return v6().ext6(Ext6::HopByHop, 16).ext6(Ext6::Routing, 24).ext6(Ext6::DestOpts, 8).udp(1, 53).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        {"ipv6_ah_udp53", [] { return v6().ext6(Ext6::Ah, 24).udp(1, 53).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        {"ipv6_first_fragment_udp53", [] { return v6().ext6Fragment(true, 0).udp(1, 53).payload(40).build(); }, XDP_DROP, kDenyRule, RL_REASON_DROP_DENY, true},
        {"ipv6_nonfirst_fragment", [] { return v6().ext6(Ext6::HopByHop, 8).ext6Fragment(false, 181).udp(1, 53).payload(40).build(); }, XDP_PASS, RL_RULE_DEFAULT, RL_REASON_ALLOW, true},
        {"ipv6_dst_ah_frag_tcp80", [] { return v6().ext6(Ext6::DestOpts, 8).ext6(Ext6::Ah, 16).ext6Fragment(true, 0).tcp(1, 80).build(); }, XDP_PASS, kTcpRule, RL_REASON_ALLOW, true},
        {"arp", [] { return arpFrame(); }, XDP_PASS, none, RL_REASON_NON_IP, false},
        {"lldp", [] { return lldpFrame(); }, XDP_PASS, none, RL_REASON_NON_IP, false},
        {"vlan_arp", [] { return PacketBuilder().vlan(kEthP8021Q, 5).ethertype(0x0806, 28).build(); }, XDP_PASS, none, RL_REASON_NON_IP, false},
        // malformed on purpose
        {"three_vlan_tags", [] { return v4().vlan(kEthP8021AD, 1).vlan(kEthP8021Q, 2).vlan(kEthP8021Q, 3).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv4_ihl4", [] { return v4().forceIhl(4).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv4_ihl0", [] { return v4().forceIhl(0).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv4_ihl_past_totlen", [] { return v4().forceIhl(15).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv4_totlen_past_end", [] { return v4().forceTotLen(200).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv4_totlen_below_ihl", [] { return v4().forceTotLen(19).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv4_version6_in_v4", [] { return v4().forceVersion(6).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv4_tcp_doff4", [] { return v4().tcp(1, 80).forceTcpDoff(4).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv6_payload_past_end", [] { return v6().forceTotLen(100).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
        {"ipv6_version4_in_v6", [] { return v6().forceVersion(4).udp(1, 53).build(); }, XDP_DROP, none, RL_REASON_MALFORMED, false},
    };
}

class Parsing : public XdpFixture {
protected:
    void SetUp() override {
        XdpFixture::SetUp();
        setRule(kDenyRule, actionRule(RL_ACT_DENY));
        setRule(kIcmpRule, actionRule(RL_ACT_ALLOW));
        setRule(kTcpRule, actionRule(RL_ACT_ALLOW));
        auto set4 = matchSet({matchPorts(kDenyRule, IPPROTO_UDP, 53, 53), matchProto(kIcmpRule, IPPROTO_ICMP),
                              matchPorts(kTcpRule, IPPROTO_TCP, 80, 80)});
        auto set6 = matchSet({matchPorts(kDenyRule, IPPROTO_UDP, 53, 53), matchProto(kIcmpRule, kIcmp6),
                              matchPorts(kTcpRule, IPPROTO_TCP, 80, 80)});
        setLpm4("0.0.0.0/0", set4);
        setLpm6("::/0", set6);
    }
};

TEST_F(Parsing, EveryKindGetsItsVerdictAndReason) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        Frame f = c.frame();
        auto before = counters();
        EXPECT_EQ(run(f), c.verdict);
        auto d = counters() - before;
        EXPECT_EQ(d.packets(c.rule, c.reason), 1u);
        EXPECT_EQ(d.totalPackets(), 1u) << "exactly one counter cell moves";
        uint64_t want_bytes = c.ip ? f.size() - c.l2 : f.size();
        EXPECT_EQ(d.bytes(c.rule, c.reason), want_bytes);
    }
}

// Ethernet padding after a short IP packet: metered by IP total length.
TEST_F(Parsing, EthernetPaddingIsNotCounted) {
    Frame f = v4().udp(1, 54).build();
    size_t ip_len = f.size() - 14;
    f.resize(60, 0);
    auto before = counters();
    EXPECT_EQ(run(f), XDP_PASS);
    auto d = counters() - before;
    EXPECT_EQ(d.bytes(RL_RULE_DEFAULT, RL_REASON_ALLOW), ip_len);
}

// RL_IPV6_EXT_MAX extension headers are walked; one more is malformed.
TEST_F(Parsing, Ipv6ExtensionChainLimit) {
    for (int n : {RL_IPV6_EXT_MAX - 1, RL_IPV6_EXT_MAX, RL_IPV6_EXT_MAX + 1, RL_IPV6_EXT_MAX + 4}) {
        SCOPED_TRACE("extension headers: " + std::to_string(n));
        PacketBuilder b = v6();
        for (int i = 0; i < n; i++) b.ext6(i % 2 ? Ext6::DestOpts : Ext6::Routing, 8);
        Frame f = b.udp(1, 53).build();
        auto before = counters();
        int v = run(f);
        auto d = counters() - before;
        if (n <= RL_IPV6_EXT_MAX) {
            EXPECT_EQ(v, XDP_DROP);
            EXPECT_EQ(d.packets(kDenyRule, RL_REASON_DROP_DENY), 1u);
        } else {
            EXPECT_EQ(v, XDP_DROP);
            EXPECT_EQ(d.packets(RL_RULE_NONE, RL_REASON_MALFORMED), 1u);
        }
    }
}

TEST_F(Parsing, MalformedVerdictIsConfigurable) {
    rl_config cfg = defaultConfig();
    cfg.malformed_verdict = RL_VERDICT_PASS;
    setConfig(cfg);
    for (const Case& c : cases()) {
        if (c.reason != RL_REASON_MALFORMED) continue;
        SCOPED_TRACE(c.name);
        auto before = counters();
        EXPECT_EQ(run(c.frame()), XDP_PASS);
        EXPECT_EQ((counters() - before).packets(RL_RULE_NONE, RL_REASON_MALFORMED), 1u);
    }
}

// Every well-formed frame cut at every byte offset. The kernel refuses test
// frames shorter than an Ethernet header (EINVAL from BPF_PROG_TEST_RUN), so
// offsets below ETH_HLEN are asserted to be refused; every other cut is
// MALFORMED (IP frames: the IP total length no longer fits, or a header is cut)
// or NON_IP (non-IP frames whose Ethernet header is complete).
TEST_F(Parsing, EveryTruncationIsMalformedOrNonIp) {
    size_t runs = 0;
    for (const Case& c : cases()) {
        if (c.reason == RL_REASON_MALFORMED) continue;
        Frame full = c.frame();
        for (size_t len = 0; len < full.size(); len++) {
            SCOPED_TRACE(std::string(c.name) + " cut at " + std::to_string(len));
            Frame f = truncated(full, len);
            auto before = counters(kRows);
            int v = tryRun(f);
            auto d = counters(kRows) - before;
            if (len < ETH_HLEN) {
                EXPECT_EQ(v, -EINVAL);
                EXPECT_EQ(d.totalPackets(), 0u);
                continue;
            }
            runs++;
            // a cut inside the VLAN tags of a non-IP frame is malformed too
            bool non_ip = !c.ip && len >= c.l2 + (c.l2 > 14 ? 0 : 0) &&
                          (std::string(c.name) != "vlan_arp" || len >= 18);
            uint32_t reason = non_ip ? RL_REASON_NON_IP : RL_REASON_MALFORMED;
            EXPECT_EQ(v, non_ip ? XDP_PASS : XDP_DROP);
            EXPECT_EQ(d.packets(RL_RULE_NONE, reason), 1u);
            EXPECT_EQ(d.bytes(RL_RULE_NONE, reason), len);
            EXPECT_EQ(d.totalPackets(), 1u);
        }
    }
    EXPECT_GT(runs, 1000u);
}

}  // namespace
}  // namespace ratelimit::test
