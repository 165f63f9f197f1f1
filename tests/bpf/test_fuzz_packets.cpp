// Randomized frames through the real XDP program (BPF_PROG_TEST_RUN): random
// bytes, and structured mutations of valid frames (flipped header bits, random
// lengths, random IPv6 extension-header chains, random VLAN stacks, tiny and
// maximum-size frames, overlapping fragment trains). Bounded: RL_FUZZ_FRAMES
// frames (default 20000) or RL_FUZZ_MAX_SECONDS (default 300), whichever comes
// first. Seeded: RL_FUZZ_SEED=<n> replays a run; the seed is printed.
//
// Invariants, checked on every frame (counters are snapshotted around each run):
//   - frames shorter than an Ethernet header are refused with EINVAL and count
//     nothing; every other frame runs (no test-run error) and gets XDP_PASS or
//     XDP_DROP;
//   - exactly one counter cell moves, by one packet, and the verdict agrees with
//     its reason (drop reasons drop, MALFORMED follows rl_cfg.malformed_verdict);
//   - MALFORMED and NON_IP are counted only in the RL_RULE_NONE row, with the
//     frame's length in bytes, and touch no global counter (no key state, no
//     events): malformed frames never reach rule counters or meters;
//   - counted bytes: the frame length with RL_CFG_F_L2_BYTES, else an IP length
//     that fits in the frame;
//   - a frame the builder made valid (no mutation, VLAN depth and extension
//     chain within the named limits) is never MALFORMED;
// and over the whole run the per-reason packet deltas sum to the frames run.
// The second half of the run uses the other configuration (L2 bytes, malformed
// frames passed) so both branches of the verdict and byte rules are covered.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

#include "bpf/support/xdp_fixture.hpp"

namespace ratelimit::test {
namespace {

constexpr uint16_t kDeny = 1;      // UDP dport 53
constexpr uint16_t kIcmp = 2;      // ICMP/ICMPv6: allow
constexpr uint16_t kBlock = 3;     // TCP dport 80: GCRA, penalty box, global ceiling
constexpr uint16_t kMonitor = 4;   // UDP 1000-2000: fixed window, monitor
constexpr uint8_t kIcmp6 = 58;
const std::vector<uint32_t> kRows = {RL_RULE_DEFAULT, kDeny, kIcmp, kBlock, kMonitor, RL_RULE_NONE};

uint64_t envU64(const char* name, uint64_t def) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 0) : def;
}

bool dropReason(uint32_t r) {
    return r == RL_REASON_DROP_RATE || r == RL_REASON_DROP_DENY || r == RL_REASON_DROP_BLOCKED ||
           r == RL_REASON_DROP_GLOBAL || r == RL_REASON_OVERRIDE_BLOCK;
}

class Gen {
public:
    explicit Gen(uint64_t seed) : rng_(seed) {}
    uint64_t below(uint64_t n) { return n ? rng_() % n : 0; }
    bool chance(unsigned percent) { return below(100) < percent; }
    uint8_t byte() { return static_cast<uint8_t>(rng_()); }

    std::string addr4() {
        // a small pool (so meters fill, keys get blocked, the override hits), rule space, anything
        if (chance(60)) return "198.18." + std::to_string(below(4)) + "." + std::to_string(below(8));
        if (chance(40)) return "198.18." + std::to_string(below(4)) + "." + std::to_string(below(256));
        return std::to_string(below(256)) + "." + std::to_string(below(256)) + "." + std::to_string(below(256)) +
               "." + std::to_string(below(256));
    }
    std::string addr6() {
        char buf[64];
        if (chance(60))
            std::snprintf(buf, sizeof(buf), "2001:db8:%x::%x", static_cast<unsigned>(below(4)),
                          static_cast<unsigned>(below(8)));
        else
            std::snprintf(buf, sizeof(buf), "%x:db8:%x::%x:%x", chance(70) ? 0x2001u : static_cast<unsigned>(below(65536)),
                          static_cast<unsigned>(below(4)), static_cast<unsigned>(below(65536)),
                          static_cast<unsigned>(below(65536)));
        return buf;
    }
    uint16_t port() {
        switch (below(5)) {
        case 0: return 53;
        case 1: return 80;
        case 2: return static_cast<uint16_t>(1000 + below(1001));
        default: return static_cast<uint16_t>(below(65536));
        }
    }

    // A frame the builder makes well formed when `valid`; otherwise with a
    // random VLAN stack (any TPIDs, up to 4 tags) or an over-long extension chain.
    Frame structured(bool valid, size_t max_len) {
        PacketBuilder b;
        size_t tags = valid ? below(RL_VLAN_MAX_DEPTH + 1) : below(5);
        for (size_t i = 0; i < tags; i++) {
            uint16_t tpid = valid || chance(70) ? (chance(50) ? kEthP8021Q : kEthP8021AD)
                                                : static_cast<uint16_t>(below(65536));
            b.vlan(tpid, static_cast<uint16_t>(below(4096)));
        }
        bool v6 = chance(45);
        size_t room = max_len > 200 ? max_len - 200 : 0;  // headers stay below 200 bytes
        if (chance(4)) {
            b.ethertype(chance(50) ? kEthPArp : static_cast<uint16_t>(below(65536)), below(64));
            return b.build();
        }
        if (!v6) {
            b.ipv4(addr4(), addr4());
            if (chance(20)) b.ipv4Options(4 * below(11));
            if (chance(20)) b.ipv4Fragment(chance(50), static_cast<uint16_t>(chance(50) ? 0 : below(8192)));
        } else {
            b.ipv6(addr6(), addr6());
            size_t exts = below(valid ? RL_IPV6_EXT_MAX + 1 : RL_IPV6_EXT_MAX + 4);
            if (chance(50)) exts = 0;
            for (size_t i = 0; i < exts; i++) {
                switch (below(5)) {
                case 0: b.ext6(Ext6::HopByHop, 8 * (1 + below(4))); break;
                case 1: b.ext6(Ext6::Routing, 8 * (1 + below(4))); break;
                case 2: b.ext6(Ext6::DestOpts, 8 * (1 + below(4))); break;
                case 3: b.ext6(Ext6::Ah, 4 * (3 + below(6))); break;
                default:
                    b.ext6Fragment(chance(50), static_cast<uint16_t>(chance(50) ? 0 : below(8192)));
                    break;
                }
            }
        }
        switch (below(6)) {
        case 0: b.tcp(port(), port()); break;
        case 1: case 2: b.udp(port(), port()); break;
        case 3: b.icmp(); break;
        case 4: b.l4proto(chance(50) ? 47 : 132, 8); break;
        default: break;  // no L4 header
        }
        size_t pay = chance(10) ? below(room + 1) : below(std::min<size_t>(room, 600) + 1);
        b.payload(pay);
        return b.build();
    }

    Frame randomBytes(size_t max_len) {
        size_t len = chance(80) ? below(129) : below(max_len + 1);
        Frame f(len);
        for (auto& x : f) x = byte();
        // half of them look like IP, so the parser goes past the Ethernet header
        if (f.size() >= 14 && chance(50)) {
            uint16_t t = chance(50) ? kEthPIp : kEthPIpv6;
            f[12] = static_cast<uint8_t>(t >> 8);
            f[13] = static_cast<uint8_t>(t);
        }
        return f;
    }

    void mutate(Frame& f, size_t max_len) {
        size_t n = 1 + below(4);
        for (size_t i = 0; i < n; i++) {
            switch (below(6)) {
            case 0: case 1: {  // flip 1..8 bits in the headers
                if (f.empty()) break;
                size_t span = std::min<size_t>(f.size(), 128);
                for (size_t k = 1 + below(8); k > 0; k--) f[below(span)] ^= static_cast<uint8_t>(1u << below(8));
                break;
            }
            case 2:  // random length: cut
                f.resize(below(f.size() + 1));
                break;
            case 3: {  // random length: grow with garbage
                size_t len = std::min(max_len, f.size() + below(chance(20) ? max_len : 64));
                while (f.size() < len) f.push_back(byte());
                break;
            }
            case 4:  // a header byte set to an extreme
                if (!f.empty()) f[below(std::min<size_t>(f.size(), 96))] = chance(50) ? 0x00 : 0xff;
                break;
            default: {  // a 16-bit length-ish field overwritten (IPv4 tot_len / IPv6 payload_len at 14+2, 14+4)
                size_t off = 14 + 4 * below(4) + (chance(50) ? 2 : 0);
                if (f.size() >= off + 2) {
                    uint16_t v = static_cast<uint16_t>(below(65536));
                    f[off] = static_cast<uint8_t>(v >> 8);
                    f[off + 1] = static_cast<uint8_t>(v);
                }
                break;
            }
            }
        }
    }

private:
    std::mt19937_64 rng_;
};

class FuzzPackets : public XdpFixture {
protected:
    void SetUp() override {
        XdpFixture::SetUp();
        rl_rule def = limitRule({tier(tbPackets(200, 20), 24, 48)});
        setRule(RL_RULE_DEFAULT, def);
        setRule(kDeny, actionRule(RL_ACT_DENY));
        setRule(kIcmp, actionRule(RL_ACT_ALLOW));
        rl_rule blk = limitRule({tier(gcra(2, 2), 32, 64)}, RL_EXCEED_BLOCK, 200 * kMsNs);
        blk.has_global = 1;
        blk.global = gcra(100, 20);
        setRule(kBlock, blk);
        rl_rule mon = limitRule({tier(window(false, 5, 1000 * kMsNs), 32, 64)}, RL_EXCEED_MONITOR);
        setRule(kMonitor, mon);
        auto set4 = matchSet({matchPorts(kDeny, IPPROTO_UDP, 53, 53), matchProto(kIcmp, IPPROTO_ICMP),
                              matchPorts(kBlock, IPPROTO_TCP, 80, 80), matchPorts(kMonitor, IPPROTO_UDP, 1000, 2000)});
        auto set6 = matchSet({matchPorts(kDeny, IPPROTO_UDP, 53, 53), matchProto(kIcmp, kIcmp6),
                              matchPorts(kBlock, IPPROTO_TCP, 80, 80), matchPorts(kMonitor, IPPROTO_UDP, 1000, 2000)});
        setLpm4("198.18.0.0/15", set4);
        setLpm6("2001:db8::/32", set6);
        setOverride4("198.18.3.3", ~0ull);
    }

    // The XDP limit of BPF_PROG_TEST_RUN: the kernel hands a non-frags XDP
    // program at most one page minus headroom and tailroom of linear data
    // (3520 bytes with 4 KiB pages) and silently cuts longer input. Measured
    // as the bytes the program counts for a 64 KiB non-IP frame.
    size_t xdpLimit() {
        Frame f = lldpFrame();
        f.resize(65536, 0);
        auto before = counters({RL_RULE_NONE});
        EXPECT_EQ(tryRun(f), XDP_PASS);
        auto d = counters({RL_RULE_NONE}) - before;
        EXPECT_EQ(d.packets(RL_RULE_NONE, RL_REASON_NON_IP), 1u);
        return d.bytes(RL_RULE_NONE, RL_REASON_NON_IP);
    }
};

TEST_F(FuzzPackets, RandomAndMutatedFramesKeepTheInvariants) {
    const uint64_t seed = envU64("RL_FUZZ_SEED", std::random_device{}() ^ static_cast<uint64_t>(nowNs()));
    const uint64_t frames = envU64("RL_FUZZ_FRAMES", 20000);
    const uint64_t max_s = envU64("RL_FUZZ_MAX_SECONDS", 300);
    std::printf("packet fuzz: seed %llu (replay: RL_FUZZ_SEED=%llu), %llu frames\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(frames));
    RecordProperty("seed", std::to_string(seed));

    const size_t max_len = xdpLimit();
    std::printf("packet fuzz: XDP test-run limit %zu bytes (longer frames are cut to it)\n", max_len);
    ASSERT_GE(max_len, 1500u);

    Gen g(seed);
    rl_config cfg = defaultConfig();
    cfg.flags |= RL_CFG_F_OVERRIDES;
    setConfig(cfg);
    const auto total_before = counters();
    auto before = counters(kRows);
    uint64_t ran = 0, refused_short = 0, failures = 0;
    std::map<std::string, uint64_t> kinds;
    std::map<uint32_t, uint64_t> by_reason;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_s);
    uint64_t i = 0;
    for (; i < frames && std::chrono::steady_clock::now() < deadline && failures < 20; i++) {
        if (i == frames / 2) {
            cfg.flags |= RL_CFG_F_L2_BYTES;
            cfg.malformed_verdict = RL_VERDICT_PASS;
            setConfig(cfg);
        }
        // frame kinds
        Frame f;
        bool oracle_valid = false;
        std::string kind;
        switch (g.below(10)) {
        case 0: case 1:
            f = g.randomBytes(max_len);
            kind = "random_bytes";
            break;
        case 2: case 3:
            f = g.structured(true, max_len);
            oracle_valid = f.size() <= max_len;
            kind = "valid";
            break;
        case 4:
            f = g.structured(false, max_len);
            kind = "odd_vlan_or_ext_chain";
            break;
        case 5: {  // overlapping fragment train from one source: offsets 0, 1, 1, 0, ...
            PacketBuilder b;
            bool v6 = g.chance(50);
            uint16_t off = static_cast<uint16_t>(g.below(3));
            if (v6) b.ipv6("2001:db8::77", "2001:db8::1").ext6Fragment(g.chance(70), off);
            else b.ipv4("198.18.2.77", "198.18.0.1").ipv4Fragment(g.chance(70), off);
            b.udp(1234, 53).payload(8 * g.below(32));
            f = b.build();
            kind = "overlapping_fragment";
            break;
        }
        case 6:  // tiny or maximum size
            f.assign(g.chance(50) ? g.below(20) : max_len - g.below(4), 0);
            for (auto& x : f) x = g.byte();
            if (f.size() >= 14 && g.chance(70)) f[12] = 0x08, f[13] = 0x00;
            kind = f.size() < 20 ? "tiny" : "jumbo";
            break;
        default:
            f = g.structured(g.chance(70), max_len);
            g.mutate(f, max_len);
            kind = "mutated";
            break;
        }
        if (f.size() > max_len) f.resize(max_len);
        kinds[kind]++;

        int v = tryRun(f);
        auto after = counters(kRows);
        auto d = after - before;
        before = after;
        SCOPED_TRACE("frame " + std::to_string(i) + " (" + kind + ", " + std::to_string(f.size()) + " bytes), seed " +
                     std::to_string(seed));
        int fails_before = ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
        if (f.size() < ETH_HLEN) {
            EXPECT_EQ(v, -EINVAL);
            EXPECT_EQ(d.totalPackets(), 0u);
            refused_short++;
        } else {
            ran++;
            ASSERT_GE(v, 0) << "BPF_PROG_TEST_RUN refused the frame: " << std::strerror(-v);
            EXPECT_TRUE(v == XDP_PASS || v == XDP_DROP) << "verdict " << v;
            EXPECT_EQ(d.totalPackets(), 1u) << "exactly one counter cell moves";
            uint32_t row = RL_MAX_RULES + 1, reason = RL_REASON__MAX;
            for (uint32_t r : kRows)
                for (uint32_t k = 0; k < RL_REASON__MAX; k++)
                    if (d.packets(r, k)) row = r, reason = k;
            if (reason == RL_REASON__MAX) {
                ADD_FAILURE() << "no counter moved";
            } else {
                by_reason[reason]++;
                uint64_t bytes = d.bytes(row, reason);
                bool odd = reason == RL_REASON_MALFORMED || reason == RL_REASON_NON_IP;
                if (odd) {
                    EXPECT_EQ(row, RL_RULE_NONE) << "malformed/non-IP counted in a rule row";
                    EXPECT_EQ(bytes, f.size());
                    for (uint32_t k = 0; k < RL_GC__MAX; k++)
                        EXPECT_EQ(d.g(k), 0u) << "malformed/non-IP frame moved global counter " << k;
                } else if (cfg.flags & RL_CFG_F_L2_BYTES) {
                    EXPECT_EQ(bytes, f.size());
                } else {
                    EXPECT_GE(bytes, 20u);
                    EXPECT_LE(bytes, f.size() - ETH_HLEN);
                }
                int want = reason == RL_REASON_MALFORMED  ? (cfg.malformed_verdict == RL_VERDICT_DROP ? XDP_DROP : XDP_PASS)
                           : reason == RL_REASON_STATE_FULL ? (cfg.state_full_verdict == RL_VERDICT_DROP ? XDP_DROP : XDP_PASS)
                           : dropReason(reason)             ? XDP_DROP
                                                            : XDP_PASS;
                EXPECT_EQ(v, want) << "verdict disagrees with reason " << reason << " (row " << row << ")";
                if (oracle_valid) {
                    EXPECT_NE(reason, RL_REASON_MALFORMED) << "a well-formed frame was called malformed";
                }
            }
        }
        if (::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count() != fails_before) {
            failures++;
            std::string hex;
            for (size_t k = 0; k < std::min<size_t>(f.size(), 96); k++) {
                char b[4];
                std::snprintf(b, sizeof(b), "%02x", f[k]);
                hex += b;
            }
            std::printf("packet fuzz: failing frame %llu (%s, %zu bytes): %s%s\n", static_cast<unsigned long long>(i),
                        kind.c_str(), f.size(), hex.c_str(), f.size() > 96 ? "..." : "");
        }
        if (i % 1024 == 0) events();  // keep the ring buffer from filling with stale events
    }
    events();
    auto total = counters() - total_before;
    std::printf("packet fuzz: %llu frames generated, %llu run, %llu refused (< 14 bytes)\n",
                static_cast<unsigned long long>(i), static_cast<unsigned long long>(ran),
                static_cast<unsigned long long>(refused_short));
    for (const auto& [k, n] : kinds) std::printf("  kind %-22s %llu\n", k.c_str(), static_cast<unsigned long long>(n));
    const char* const names[] = RL_REASON_NAMES;
    for (const auto& [r, n] : by_reason) std::printf("  reason %-20s %llu\n", names[r], static_cast<unsigned long long>(n));
    EXPECT_EQ(total.totalPackets(), ran) << "per-reason packet deltas must sum to the frames run";
    EXPECT_GT(ran, 0u);
    // the mix exercised what it is meant to
    EXPECT_GT(by_reason[RL_REASON_MALFORMED], 0u);
    EXPECT_GT(by_reason[RL_REASON_NON_IP], 0u);
    EXPECT_GT(by_reason[RL_REASON_DROP_DENY] + by_reason[RL_REASON_PASS] + by_reason[RL_REASON_ALLOW], 0u);
}

}  // namespace
}  // namespace ratelimit::test
