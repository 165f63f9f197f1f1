// rl_bench: the benchmark driver behind `make bench` (scripts/bench/run.sh).
//
//   rl_bench cost --ifname DEV [--sources 1,1000,...] [--runs N] [--min-repeat N]
//                 [--families 4,6] [--no-cold] [--no-2tier | --only-2tier]
//       Program cost via BPF_PROG_TEST_RUN. The bench_driver program (attached to
//       DEV, an idle veth in a bench namespace, so test runs do not rebuild the
//       XDP dispatcher) rewrites the source address per packet and tail-calls
//       the program under test. Prints CSV rows on stdout.
//   rl_bench mem
//       Kernel memory accounting (fdinfo memlock) of the state maps at 1M keys.
//   rl_bench gen --ifname DEV --dst-mac MAC --src-ip A --dst-ip A [--family 4|6]
//                --sources N --packets N
//       In-kernel generator: BPF_F_TEST_XDP_LIVE_FRAMES, XDP_TX out of DEV.
//   rl_bench load --ifname DEV --prog ratelimit|drop [--rate PPS --burst N]
//       Attaches the shipped program (token bucket per /32 and /128, default
//       rule) or XDP_DROP to DEV and exits; detach with `ip link set DEV xdp off`.
//
// Needs root. Exceptions only here at the edge (main).
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench_abi.h"
#include "bench_driver.skel.h"
#include "gcra_min.skel.h"
#include "gen_live.skel.h"
// The skeleton's struct ratelimit would clash with namespace ratelimit.
#define ratelimit rl_skel
#include "ratelimit.skel.h"
#undef ratelimit
#include "maps/known_filter.hpp"
#include "ratelimit/abi.h"
#include "rules/lpm_hint.hpp"
#include "rules/meter_params.hpp"
#include "xdp_drop.skel.h"

namespace ratelimit::bench {
namespace {

[[noreturn]] void fail(const std::string& what, int err = errno) {
    throw std::runtime_error(what + (err ? std::string(": ") + std::strerror(err) : ""));
}

// ---- skeleton owners --------------------------------------------------------
template <typename T, void (*Destroy)(T*)>
struct SkelDeleter {
    void operator()(T* p) const { Destroy(p); }
};
using DriverSkel = std::unique_ptr<bench_driver, SkelDeleter<bench_driver, bench_driver__destroy>>;
using RlSkel = std::unique_ptr<rl_skel, SkelDeleter<rl_skel, ratelimit__destroy>>;
using DropSkel = std::unique_ptr<xdp_drop, SkelDeleter<xdp_drop, xdp_drop__destroy>>;
using GminSkel = std::unique_ptr<gcra_min, SkelDeleter<gcra_min, gcra_min__destroy>>;
using GenSkel = std::unique_ptr<gen_live, SkelDeleter<gen_live, gen_live__destroy>>;

// XDP attachment owner: detaches what it attached.
class XdpAttach {
public:
    XdpAttach(int ifindex, int prog_fd) : ifindex_(ifindex) {
        if (bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, nullptr) != 0 &&
            bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_SKB_MODE, nullptr) != 0)
            fail("bpf_xdp_attach");
    }
    ~XdpAttach() { bpf_xdp_detach(ifindex_, 0, nullptr); }
    XdpAttach(const XdpAttach&) = delete;
    XdpAttach& operator=(const XdpAttach&) = delete;

private:
    int ifindex_;
};

// ---- packets ----------------------------------------------------------------
uint16_t csumFold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}
uint32_t csumAdd(uint32_t sum, const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1) sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

struct FrameSpec {
    int family = 4;
    uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
    uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    uint8_t src[16] = {};
    uint8_t dst[16] = {};
    uint16_t dport = 9;  // discard
    size_t payload = 18; // 64-byte IPv4 frames (without FCS)
};

// Ethernet + IPv4/IPv6 + UDP with valid checksums (the driver keeps them valid).
std::vector<uint8_t> buildFrame(const FrameSpec& s) {
    const size_t l3 = s.family == 4 ? 20 : 40, udp_len = 8 + s.payload;
    std::vector<uint8_t> f(14 + l3 + udp_len, 0);
    std::memcpy(&f[0], s.dst_mac, 6);
    std::memcpy(&f[6], s.src_mac, 6);
    f[12] = s.family == 4 ? 0x08 : 0x86;
    f[13] = s.family == 4 ? 0x00 : 0xdd;
    uint8_t* ip = &f[14];
    uint8_t* udp = ip + l3;
    uint32_t pseudo = 0;
    if (s.family == 4) {
        const size_t tot = l3 + udp_len;
        ip[0] = 0x45;
        ip[2] = tot >> 8;
        ip[3] = tot & 0xff;
        ip[8] = 64;
        ip[9] = 17;
        std::memcpy(ip + 12, s.src, 4);
        std::memcpy(ip + 16, s.dst, 4);
        uint16_t c = csumFold(csumAdd(0, ip, 20));
        ip[10] = c >> 8;
        ip[11] = c & 0xff;
        pseudo = csumAdd(csumAdd(0, ip + 12, 8), nullptr, 0) + 17 + udp_len;
    } else {
        ip[0] = 0x60;
        ip[4] = udp_len >> 8;
        ip[5] = udp_len & 0xff;
        ip[6] = 17;
        ip[7] = 64;
        std::memcpy(ip + 8, s.src, 16);
        std::memcpy(ip + 24, s.dst, 16);
        pseudo = csumAdd(0, ip + 8, 32) + 17 + udp_len;
    }
    udp[0] = 0x9c;  // sport 40000
    udp[1] = 0x40;
    udp[2] = s.dport >> 8;
    udp[3] = s.dport & 0xff;
    udp[4] = udp_len >> 8;
    udp[5] = udp_len & 0xff;
    for (size_t i = 0; i < s.payload; i++) udp[8 + i] = static_cast<uint8_t>(i);
    uint16_t c = csumFold(csumAdd(pseudo, udp, udp_len));
    if (c == 0) c = 0xffff;
    udp[6] = c >> 8;
    udp[7] = c & 0xff;
    return f;
}

void parseIp(const std::string& text, int family, uint8_t* out) {
    if (inet_pton(family == 4 ? AF_INET : AF_INET6, text.c_str(), out) != 1)
        fail("bad address " + text, 0);
}
void parseMac(const std::string& text, uint8_t* out) {
    unsigned v[6];
    if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        fail("bad MAC " + text, 0);
    for (int i = 0; i < 6; i++) out[i] = static_cast<uint8_t>(v[i]);
}

// ---- small helpers ----------------------------------------------------------
int ncpus() {
    int n = libbpf_num_possible_cpus();
    if (n <= 0) fail("libbpf_num_possible_cpus", -n);
    return n;
}

void updateElem(int fd, const void* key, const void* value, const char* what) {
    if (bpf_map_update_elem(fd, key, value, BPF_ANY) != 0) fail(std::string("update ") + what);
}

void resetPerCpuCounter(int fd) {
    std::vector<uint64_t> zeros(ncpus(), 0);
    uint32_t zero = 0;
    updateElem(fd, &zero, zeros.data(), "counter");
}

// fdinfo of a BPF object fd: "memlock", "max_entries", ...
std::map<std::string, std::string> fdinfo(int fd) {
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
    std::map<std::string, std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        out[line.substr(0, colon)] = v;
    }
    return out;
}

uint64_t median(std::vector<uint64_t> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct ProgInfo {
    uint32_t verified_insns = 0, xlated = 0, jited = 0;
};
ProgInfo progInfo(int fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) fail("bpf_prog_get_info_by_fd");
    return {info.verified_insns, info.xlated_prog_len / 8, info.jited_prog_len};
}

// ---- the shipped program's configuration -------------------------------------
enum class Meter { TokenBucket, Gcra, Sliding, Fixed };
const char* meterName(Meter m) {
    switch (m) {
    case Meter::TokenBucket: return "token_bucket";
    case Meter::Gcra: return "gcra";
    case Meter::Sliding: return "sliding_window";
    case Meter::Fixed: return "fixed_window";
    }
    return "?";
}

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) fail(std::string(what) + ": " + r.error().message(), 0);
    return std::move(r).value();
}

// `pps` packets per second per key with a burst of `burst` (windows: pps per 1 s).
rl_meter makeMeter(Meter m, uint64_t pps, uint64_t burst, uint8_t p4, uint8_t p6) {
    const Rate rate{pps, RL_NSEC_PER_SEC};
    rl_meter out{};
    switch (m) {
    case Meter::TokenBucket:
        out = must(tokenBucketMeter({.packets = rate, .burst_packets = burst}), "token bucket");
        break;
    case Meter::Gcra: out = must(gcraMeter({.packets = rate, .burst = burst}), "gcra"); break;
    case Meter::Sliding:
        out = must(windowMeter({.sliding = true, .limit = pps, .window_ns = RL_NSEC_PER_SEC}), "window");
        break;
    case Meter::Fixed:
        out = must(windowMeter({.sliding = false, .limit = pps, .window_ns = RL_NSEC_PER_SEC}), "window");
        break;
    }
    out.prefix_v4 = p4;
    out.prefix_v6 = p6;
    return out;
}

// Source ranges of the program-cost bench (BPF_PROG_TEST_RUN only: these frames
// never leave the kernel). IPv4 100.64.0.0/10 holds 4M addresses; IPv6 sources
// are 2001:db8:ffff::/48 + counter in the low 32 bits.
constexpr uint32_t kCostBase4 = 0x64400000;  // 100.64.0.0
const uint8_t kCostPrefix6[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff};
constexpr uint32_t kCidrRules = 100;
constexpr uint16_t kTwoTierRule = 1;
constexpr uint16_t kFirstCidrRule = 2;

// One rule's prefixes in both LPM maps.
struct BenchPrefix {
    uint16_t rule;
    uint32_t addr4;  // host order
    uint32_t plen4;
    std::array<uint8_t, 16> addr6;
    uint32_t plen6;
};

// The bench's CIDR prefixes: rule kFirstCidrRule + i holds 10.i.0.0/16 and
// 2001:db8:i::/48 (the bench sources hit none), and the two-tier rule the
// bench sources' 100.64.0.0/10 and 2001:db8:ffff::/48.
std::vector<BenchPrefix> benchPrefixes(bool two_tier) {
    std::vector<BenchPrefix> out;
    for (uint32_t i = 0; i < kCidrRules; i++)
        out.push_back({static_cast<uint16_t>(kFirstCidrRule + i), 0x0a000000u | (i << 16), 16,
                       {0x20, 0x01, 0x0d, 0xb8, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}, 48});
    if (two_tier) {
        BenchPrefix p{kTwoTierRule, kCostBase4, 10, {}, 48};
        std::memcpy(p.addr6.data(), kCostPrefix6, 16);
        out.push_back(p);
    }
    return out;
}

// Writes a realistic rule set: default rule (one tier, per /32 and /128),
// kCidrRules CIDR rules that the bench sources do not hit, and, if two_tier, a
// rule covering the bench sources with two tiers (/32 + /24 and /128 + /64);
// their prefixes from benchPrefixes().
void configure(rl_skel* s, Meter meter, bool two_tier, uint64_t pps, uint64_t burst,
               const rl_config& cfg_in) {
    uint32_t zero = 0;
    std::vector<std::pair<uint32_t, std::array<uint8_t, 4>>> hint4;  // the LPM hint, as the daemon writes it
    std::vector<std::pair<uint32_t, std::array<uint8_t, 16>>> hint6;

    rl_rule def{};
    def.action = RL_ACT_LIMIT;
    def.on_exceed = RL_EXCEED_DROP;
    def.n_tiers = 1;
    def.generation = 1;
    def.tiers[0] = makeMeter(meter, pps, burst, 32, 128);
    // RL_BENCH_ADMIT=1: admission control on the default rule (10,000 new keys/s,
    // unknown sources 1,000/s): past the fill's admissions, sources are refused
    // without state, the path of a spoofed flood
    if (getenv("RL_BENCH_ADMIT")) {
        def.admit = must(gcraMeter({.packets = {10000, RL_NSEC_PER_SEC}, .burst = 10000}), "admit");
        def.unknown = must(gcraMeter({.packets = {1000, RL_NSEC_PER_SEC}, .burst = 1000}), "unknown");
    }
    uint32_t id = RL_RULE_DEFAULT;
    updateElem(bpf_map__fd(s->maps.rl_rules), &id, &def, "rl_rules");

    auto addPrefix4 = [&](uint32_t addr_host, uint32_t plen, uint16_t rule) {
        rl_lpm4_key k{plen, htonl(addr_host)};
        rl_match_set set{};
        set.count = 1;
        set.m[0].rule_id = rule;
        updateElem(bpf_map__fd(s->maps.rl_lpm4), &k, &set, "rl_lpm4");
        std::array<uint8_t, 4> a;
        std::memcpy(a.data(), &k.addr, 4);
        hint4.push_back({plen, a});
    };
    auto addPrefix6 = [&](const uint8_t* addr, uint32_t plen, uint16_t rule) {
        rl_lpm6_key k{};
        k.prefixlen = plen;
        std::memcpy(k.addr, addr, 16);
        rl_match_set set{};
        set.count = 1;
        set.m[0].rule_id = rule;
        updateElem(bpf_map__fd(s->maps.rl_lpm6), &k, &set, "rl_lpm6");
        std::array<uint8_t, 16> a6;
        std::memcpy(a6.data(), addr, 16);
        hint6.push_back({plen, a6});
    };
    for (uint32_t i = 0; i < kCidrRules; i++) {
        rl_rule r = def;
        r.tiers[0] = makeMeter(meter, pps * 10, burst * 10, 32, 128);
        id = kFirstCidrRule + i;
        updateElem(bpf_map__fd(s->maps.rl_rules), &id, &r, "rl_rules");
    }
    if (two_tier) {
        rl_rule r = def;
        r.n_tiers = 2;
        r.tiers[0] = makeMeter(meter, pps, burst, 32, 128);
        r.tiers[1] = makeMeter(meter, pps * 10, burst * 10, 24, 64);
        id = kTwoTierRule;
        updateElem(bpf_map__fd(s->maps.rl_rules), &id, &r, "rl_rules");
    }
    for (const BenchPrefix& p : benchPrefixes(two_tier)) {
        addPrefix4(p.addr4, p.plen4, p.rule);
        addPrefix6(p.addr6.data(), p.plen6, p.rule);
    }
    LpmHint hint = buildLpmHint(hint4, hint6);
    for (uint32_t i = 0; i < RL_HINT_ENTRIES; i++)
        updateElem(bpf_map__fd(s->maps.rl_lpmhint), &i, &hint.words[i], "rl_lpmhint");
    rl_config cfg = cfg_in;
    if (hint.v4) cfg.flags |= RL_CFG_F_HINT4;
    if (hint.v6) cfg.flags |= RL_CFG_F_HINT6;
    if (getenv("RL_BENCH_NO_HINT")) cfg.flags &= ~(RL_CFG_F_HINT4 | RL_CFG_F_HINT6);
    updateElem(bpf_map__fd(s->maps.rl_cfg), &zero, &cfg, "rl_cfg");
    // the known-key filter, built as the daemon builds it after loading
    // (RL_BENCH_NO_KNOWN=1: left unbuilt, so never used, for the ablation)
    if (!getenv("RL_BENCH_NO_KNOWN")) {
        MapFds fds;
        fds.known = bpf_map__fd(s->maps.rl_known);
        fds.state4 = bpf_map__fd(s->maps.rl_state4);
        fds.state6 = bpf_map__fd(s->maps.rl_state6);
        auto kf = KnownFilter::open(fds);
        if (!kf) fail("known filter: " + kf.error().message(), 0);
        if (auto r = (*kf)->rebuild(); !r) fail("known filter: " + r.error().message(), 0);
    }
}

rl_config defaultRuntimeConfig() {
    rl_config cfg{};  // the daemon's defaults (controller/config/config.hpp)
    cfg.abi_version = RL_ABI_VERSION;
    cfg.malformed_verdict = RL_VERDICT_DROP;
    cfg.state_full_verdict = RL_VERDICT_PASS;
    cfg.talker_shift = 6;
    cfg.event_rate = getenv("RL_BENCH_NO_EVENTS") ? 0 : 100;
    cfg.event_burst = 200;
    return cfg;
}

RlSkel loadRatelimit(uint32_t state_entries = RL_STATE_DEFAULT_ENTRIES) {
    RlSkel s(ratelimit__open());
    if (!s) fail("ratelimit__open");
    bpf_map__set_max_entries(s->maps.rl_state4, state_entries);
    bpf_map__set_max_entries(s->maps.rl_state6, state_entries);
    if (int err = ratelimit__load(s.get())) fail("ratelimit__load", -err);
    return s;
}

// Sums per-CPU rl_stats packets for rules [0, nrules): {total, dropped}.
std::pair<uint64_t, uint64_t> ruleCounters(rl_skel* s, uint32_t nrules) {
    const int n = ncpus();
    std::vector<rl_counter> cells(n);
    uint64_t total = 0, dropped = 0;
    for (uint32_t rule = 0; rule < nrules; rule++) {
        for (uint32_t reason = 0; reason < RL_REASON__MAX; reason++) {
            uint32_t idx = rule * RL_REASON__MAX + reason;
            if (bpf_map_lookup_elem(bpf_map__fd(s->maps.rl_stats), &idx, cells.data()) != 0)
                fail("lookup rl_stats");
            for (auto& c : cells) {
                total += c.packets;
                if (reason == RL_REASON_DROP_RATE || reason == RL_REASON_DROP_DENY ||
                    reason == RL_REASON_DROP_BLOCKED || reason == RL_REASON_DROP_GLOBAL ||
                    reason == RL_REASON_DROP_UNKNOWN)
                    dropped += c.packets;
            }
        }
    }
    return {total, dropped};
}

uint64_t gcounter(rl_skel* s, uint32_t which) {
    std::vector<uint64_t> cells(ncpus());
    if (bpf_map_lookup_elem(bpf_map__fd(s->maps.rl_gstats), &which, cells.data()) != 0)
        fail("lookup rl_gstats");
    uint64_t sum = 0;
    for (auto v : cells) sum += v;
    return sum;
}

// ---- program cost --------------------------------------------------------------
struct CostOptions {
    std::string ifname;
    std::vector<uint64_t> sources{1, 1000, 100000, 1000000};
    std::vector<int> families{4, 6};
    int runs = 3;
    uint64_t min_repeat = 2000000;
    bool cold = true;
    bool two_tier = true;
    bool only_two_tier = false;  // profiling: skip the default-rule scenario
    std::string meters;  // comma-separated meter names; empty = all
    int talker_shift = -1;      // >= 0: override the daemon's default (6)
    bool no_dcache = false;     // ablation: RL_CFG_F_NO_DCACHE
};

class CostBench {
public:
    explicit CostBench(const CostOptions& o) : o_(o) {
        int ifindex = if_nametoindex(o.ifname.c_str());
        if (!ifindex) fail("if_nametoindex " + o.ifname);
        driver_.reset(bench_driver__open_and_load());
        if (!driver_) fail("bench_driver__open_and_load");
        attach_ = std::make_unique<XdpAttach>(ifindex, bpf_program__fd(driver_->progs.bench_driver));
        std::printf("family,program,meter,scenario,sources,phase,ns_per_pkt,runs,ns_min,ns_max,"
                    "repeat,drop_frac,inserts_per_pkt,verified_insns,xlated_insns,jited_bytes,paired_drop_ns,"
                    "paired_gm_ns\n");
        std::fflush(stdout);
    }

    struct Counters {
        uint64_t total = 0, dropped = 0, inserts = 0;
    };

    struct Target {
        std::string program, meter, scenario;
        int prog_fd;
        rl_skel* rl = nullptr;  // for counters
    };

    // Warm: keys exist (one full pass first), median of runs.
    // With baselines set (setBaselines), each run of t is paired with a run of
    // XDP_DROP and of gcra_min just before it, so that slow drifts of the
    // machine cancel in the ratios (columns paired_drop_ns, paired_gm_ns).
    void warm(const Target& t) {
        for (int family : o_.families) {
            for (uint64_t n : o_.sources) {
                uint64_t repeat = roundUp(std::max(o_.min_repeat, n), n);
                setSources(n, family == 4 ? kCostBase4 : 0);
                if (t.rl && gm_fd_ >= 0) {  // gcra_min's keys warm for this n too
                    setTarget(gm_fd_);
                    testRun(family, n);
                }
                setTarget(t.prog_fd);
                testRun(family, n);  // warm pass: every key inserted once
                measure(t, family, n, "warm", repeat, o_.runs);
            }
        }
    }

    void setBaselines(int drop_fd, int gm_fd) {
        drop_fd_ = drop_fd;
        gm_fd_ = gm_fd;
    }

    // Cold: every packet is a source never seen (fresh program instance per run).
    void coldRun(const Target& t, int family, uint64_t n, std::vector<uint64_t>& samples,
                 Counters& acc) {
        setTarget(t.prog_fd);
        setSources(n, family == 4 ? kCostBase4 : 0);
        Counters before = counters(t);
        samples.push_back(testRun(family, n));
        Counters after = counters(t);
        acc.total += after.total - before.total;
        acc.dropped += after.dropped - before.dropped;
        acc.inserts += after.inserts - before.inserts;
    }

    void emit(const Target& t, int family, uint64_t n, const char* phase,
              const std::vector<uint64_t>& samples, uint64_t repeat, const Counters& c,
              const std::vector<uint64_t>& paired_drop = {}, const std::vector<uint64_t>& paired_gm = {}) {
        ProgInfo pi = progInfo(t.prog_fd);
        auto [mn, mx] = std::minmax_element(samples.begin(), samples.end());
        char drop[32] = "", ins[32] = "";
        if (t.rl && c.total) {
            std::snprintf(drop, sizeof drop, "%.4f", (double)c.dropped / c.total);
            std::snprintf(ins, sizeof ins, "%.4f", (double)c.inserts / c.total);
        }
        std::string pd = paired_drop.empty() ? "" : std::to_string(median(paired_drop));
        std::string pg = paired_gm.empty() ? "" : std::to_string(median(paired_gm));
        std::printf("%d,%s,%s,%s,%llu,%s,%llu,%zu,%llu,%llu,%llu,%s,%s,%u,%u,%u,%s,%s\n", family,
                    t.program.c_str(), t.meter.c_str(), t.scenario.c_str(), (unsigned long long)n,
                    phase, (unsigned long long)median(samples), samples.size(),
                    (unsigned long long)*mn, (unsigned long long)*mx, (unsigned long long)repeat,
                    drop, ins, pi.verified_insns, pi.xlated, pi.jited, pd.c_str(), pg.c_str());
        std::fflush(stdout);
    }

    const CostOptions& options() const { return o_; }

private:
    static uint64_t roundUp(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

    void setTarget(int prog_fd) {
        uint32_t zero = 0;
        updateElem(bpf_map__fd(driver_->maps.bd_target), &zero, &prog_fd, "bd_target");
    }
    void setSources(uint64_t n, uint32_t base) {
        bench_src src{static_cast<uint32_t>(n), base};
        uint32_t zero = 0;
        updateElem(bpf_map__fd(driver_->maps.bd_src), &zero, &src, "bd_src");
        resetPerCpuCounter(bpf_map__fd(driver_->maps.bd_counter));
    }

    // One BPF_PROG_TEST_RUN of the driver: kernel-measured ns per packet.
    uint64_t testRun(int family, uint64_t repeat) {
        FrameSpec fs;
        fs.family = family;
        if (family == 4) {
            parseIp("100.64.0.1", 4, fs.src);
            parseIp("198.18.0.2", 4, fs.dst);
        } else {
            std::memcpy(fs.src, kCostPrefix6, 16);
            parseIp("2001:db8::2", 6, fs.dst);
        }
        std::vector<uint8_t> frame = buildFrame(fs);
        std::vector<uint8_t> out(frame.size() + 256);
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
                    .data_size_in = (uint32_t)frame.size(), .data_size_out = (uint32_t)out.size(),
                    .repeat = (int)repeat);
        int drv = bpf_program__fd(driver_->progs.bench_driver);
        if (bpf_prog_test_run_opts(drv, &opts) != 0) fail("bpf_prog_test_run_opts");
        if (opts.retval == XDP_ABORTED) fail("driver returned XDP_ABORTED (tail call failed)", 0);
        return opts.duration;
    }

    Counters counters(const Target& t) {
        Counters c;
        if (!t.rl) return c;
        auto [total, dropped] = ruleCounters(t.rl, kFirstCidrRule);
        c.total = total;
        c.dropped = dropped;
        c.inserts = gcounter(t.rl, RL_GC_KEY_INSERT);
        return c;
    }

    void measure(const Target& t, int family, uint64_t n, const char* phase, uint64_t repeat, int runs) {
        std::vector<uint64_t> samples, pdrop, pgm;
        const bool paired = t.rl && drop_fd_ >= 0 && gm_fd_ >= 0;
        Counters before = counters(t);
        for (int r = 0; r < runs; r++) {
            if (paired) {
                setTarget(drop_fd_);
                pdrop.push_back(testRun(family, repeat));
                setTarget(gm_fd_);
                pgm.push_back(testRun(family, repeat));
                setTarget(t.prog_fd);
            }
            samples.push_back(testRun(family, repeat));
        }
        Counters after = counters(t);
        Counters d{after.total - before.total, after.dropped - before.dropped,
                   after.inserts - before.inserts};
        emit(t, family, n, phase, samples, repeat, d, pdrop, pgm);
    }

    CostOptions o_;
    int drop_fd_ = -1, gm_fd_ = -1;
    DriverSkel driver_;
    std::unique_ptr<XdpAttach> attach_;
};

// gcra_min's two-tier mode: its LPM tries get the two-tier scenario's prefixes.
void fillGminPrefixes(gcra_min* g) {
    const uint32_t unused = 0;
    for (const BenchPrefix& p : benchPrefixes(true)) {
        struct { uint32_t prefixlen; uint32_t addr; } k4{p.plen4, htonl(p.addr4)};  // gm_lpm4_key
        updateElem(bpf_map__fd(g->maps.gm_lpm4), &k4, &unused, "gm_lpm4");
        struct { uint32_t prefixlen; std::array<uint8_t, 16> addr; } k6{p.plen6, p.addr6};  // gm_lpm6_key
        updateElem(bpf_map__fd(g->maps.gm_lpm6), &k6, &unused, "gm_lpm6");
    }
}

void runCost(const CostOptions& o) {
    CostBench bench(o);
    DropSkel d(xdp_drop__open_and_load());
    if (!d) fail("xdp_drop__open_and_load");
    bench.warm({"xdp_drop", "-", "-", bpf_program__fd(d->progs.bench_drop)});
    const uint64_t pps = 1000, burst = 100;
    GminSkel g(gcra_min__open());
    if (!g) fail("gcra_min__open");
    {
        rl_meter m = makeMeter(Meter::Gcra, pps, burst, 32, 128);
        g->rodata->gm_t_q = m.t_q16[0] >> 16;
        g->rodata->gm_limit_q = m.limit_q[0];
        // RL_BENCH_GM_2TIER=1: the baseline is the least a two-tier CIDR rule
        // can do (gcra_min.bpf.c), over the same prefixes as configure()'s
        const bool gm2 = getenv("RL_BENCH_GM_2TIER") != nullptr;
        g->rodata->gm_two_tier = gm2;
        if (int err = gcra_min__load(g.get())) fail("gcra_min__load", -err);
        if (gm2) fillGminPrefixes(g.get());
        bench.warm({"gcra_min", "gcra", gm2 ? "2tier" : "-", bpf_program__fd(g->progs.gcra_min)});
        // its warm-up pass went through the LPM lookup to the aggregate tier
        if (gm2) {
            for (int family : o.families) {
                uint8_t key[16];
                bpf_map* agg = family == 4 ? g->maps.gm_agg4 : g->maps.gm_agg6;
                if (bpf_map_get_next_key(bpf_map__fd(agg), nullptr, key) != 0)
                    fail(std::string("RL_BENCH_GM_2TIER: ") + bpf_map__name(agg) + " is empty after the warm-up pass", 0);
            }
        }
    }
    bench.setBaselines(bpf_program__fd(d->progs.bench_drop), bpf_program__fd(g->progs.gcra_min));
    std::vector<Meter> meters;
    for (Meter m : {Meter::TokenBucket, Meter::Gcra, Meter::Sliding, Meter::Fixed})
        if (o.meters.empty() || ("," + o.meters + ",").find(std::string(",") + meterName(m) + ",") != std::string::npos)
            meters.push_back(m);
    if (meters.empty()) fail("--meters: no known meter in '" + o.meters + "' (token_bucket, gcra, sliding_window, fixed_window)", 0);
    rl_config cfg = defaultRuntimeConfig();
    if (o.talker_shift >= 0) cfg.talker_shift = static_cast<uint8_t>(o.talker_shift);
    if (o.no_dcache) cfg.flags |= RL_CFG_F_NO_DCACHE;
    for (bool two : {false, true}) {
        if (two && !o.two_tier) continue;
        if (!two && o.only_two_tier) continue;
        for (Meter m : meters) {
            RlSkel s = loadRatelimit();
            configure(s.get(), m, two, pps, burst, cfg);
            bench.warm({"ratelimit", meterName(m), two ? "2tier" : "default", bpf_program__fd(s->progs.rl_xdp), s.get()});
        }
    }
    if (!o.cold) return;
    // Cold / insert path at the largest N: a fresh instance per run, so every
    // packet's key is new (LRU hash insert, empty table).
    const uint64_t n = *std::max_element(o.sources.begin(), o.sources.end());
    for (int family : o.families) {
        {
            std::vector<uint64_t> samples;
            CostBench::Counters c;
            for (int r = 0; r < o.runs; r++) {
                GminSkel g(gcra_min__open());
                if (!g) fail("gcra_min__open");
                rl_meter m = makeMeter(Meter::Gcra, pps, burst, 32, 128);
                g->rodata->gm_t_q = m.t_q16[0] >> 16;
                g->rodata->gm_limit_q = m.limit_q[0];
                if (int err = gcra_min__load(g.get())) fail("gcra_min__load", -err);
                CostBench::Target t{"gcra_min", "gcra", "-", bpf_program__fd(g->progs.gcra_min)};
                bench.coldRun(t, family, n, samples, c);
                if (r + 1 == o.runs) bench.emit(t, family, n, "cold", samples, n, c);
            }
        }
        for (Meter m : meters) {
            std::vector<uint64_t> samples;
            CostBench::Counters c;
            for (int r = 0; r < o.runs; r++) {
                RlSkel s = loadRatelimit();
                configure(s.get(), m, false, pps, burst, cfg);
                CostBench::Target t{"ratelimit", meterName(m), "default", bpf_program__fd(s->progs.rl_xdp), s.get()};
                bench.coldRun(t, family, n, samples, c);
                if (r + 1 == o.runs) bench.emit(t, family, n, "cold", samples, n, c);
            }
        }
    }
}

// ---- memory --------------------------------------------------------------------
// Bare LRU hash of the given geometry: the kernel's memlock for it.
uint64_t lruMemlock(uint32_t key, uint32_t value, uint32_t entries) {
    int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "rl_bench_mem", key, value, entries, nullptr);
    if (fd < 0) fail("bpf_map_create");
    uint64_t m = std::stoull(fdinfo(fd)["memlock"]);
    close(fd);
    return m;
}

void runMem() {
    RlSkel s = loadRatelimit();
    std::printf("map,key_size,value_size,max_entries,memlock_bytes,keys_filled,memlock_after_fill,bytes_per_entry\n");
    // Fill the state maps to capacity with distinct keys (user space, batched).
    auto fill = [&](bpf_map* map, size_t key_size) {
        const uint32_t entries = bpf_map__max_entries(map);
        const uint32_t batch = 65536;
        std::vector<uint8_t> keys(size_t(batch) * key_size, 0);
        std::vector<rl_state> vals(batch, rl_state{});
        uint64_t filled = 0;
        for (uint32_t start = 0; start < entries; start += batch) {
            uint32_t cnt = std::min(batch, entries - start);
            for (uint32_t i = 0; i < cnt; i++) {
                uint32_t a = htonl(kCostBase4 + start + i);
                uint8_t* k = &keys[size_t(i) * key_size];
                std::memset(k, 0, key_size);
                if (key_size == sizeof(rl_key4)) {
                    std::memcpy(k, &a, 4);
                    reinterpret_cast<rl_key4*>(k)->prefix_len = 32;
                } else {
                    std::memcpy(k, kCostPrefix6, 16);
                    std::memcpy(k + 12, &a, 4);
                    reinterpret_cast<rl_key6*>(k)->prefix_len = 128;
                }
            }
            uint32_t c = cnt;
            LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = BPF_ANY);
            if (bpf_map_update_batch(bpf_map__fd(map), keys.data(), vals.data(), &c, &bo) != 0)
                fail("bpf_map_update_batch");
            filled += c;
        }
        // Count what is really there (an LRU may evict while filling).
        uint64_t present = 0;
        std::vector<uint8_t> k(key_size), next(key_size);
        void* prev = nullptr;
        while (bpf_map_get_next_key(bpf_map__fd(map), prev, next.data()) == 0) {
            present++;
            k = next;
            prev = k.data();
        }
        if (filled != entries) fail("bpf_map_update_batch stored fewer keys than asked", 0);
        return present;
    };
    bpf_object* obj = s->obj;
    bpf_map* map;
    bpf_object__for_each_map(map, obj) {
        const std::string name = bpf_map__name(map);
        if (name.rfind("rl_", 0) != 0) continue;
        int fd = bpf_map__fd(map);
        uint64_t before = std::stoull(fdinfo(fd)["memlock"]);
        uint64_t present = 0, after = before;
        if (name == RL_MAP_STATE4 || name == RL_MAP_STATE6) {
            present = fill(map, bpf_map__key_size(map));
            after = std::stoull(fdinfo(fd)["memlock"]);
        }
        std::printf("%s,%u,%u,%u,%llu,%llu,%llu,%.1f\n", name.c_str(), bpf_map__key_size(map),
                    bpf_map__value_size(map), bpf_map__max_entries(map), (unsigned long long)before,
                    (unsigned long long)present, (unsigned long long)after,
                    (double)after / bpf_map__max_entries(map));
    }
    // Where the bytes go: the LRU hash's memlock is sizeof(struct bpf_htab)
    // + n_buckets * sizeof(struct bucket) + max_entries * elem_size (prealloc),
    // with n_buckets = roundup_pow_of_two(max_entries). Two geometries that share
    // n_buckets give elem_size; the rest is buckets + fixed.
    const uint32_t e1 = 1u << 20, e2 = 3u << 18;  // both have 2^20 buckets
    for (auto [label, key] : {std::pair{"state4", (uint32_t)sizeof(rl_key4)},
                              std::pair{"state6", (uint32_t)sizeof(rl_key6)}}) {
        uint64_t m1 = lruMemlock(key, sizeof(rl_state), e1), m2 = lruMemlock(key, sizeof(rl_state), e2);
        double elem = (double)(m1 - m2) / (e1 - e2);
        double rest = (double)m1 - elem * e1;  // buckets + fixed struct
        std::printf("breakdown,%s,key=%u,value=%zu,elem_size=%.1f,elem_overhead=%.1f,"
                    "bucket_per_entry=%.1f,total_per_entry=%.1f\n",
                    label, key, sizeof(rl_state), elem, elem - ((key + 7) / 8 * 8) - ((sizeof(rl_state) + 7) / 8 * 8),
                    rest / e1, (double)m1 / e1);
    }
}

// ---- end-to-end helpers ---------------------------------------------------------
struct GenOptions {
    std::string ifname, dst_mac, src_mac = "02:00:00:00:00:01", src_ip, dst_ip;
    int family = 4;
    uint64_t sources = 256, packets = 1000000;
};

void runGen(const GenOptions& o) {
    int ifindex = if_nametoindex(o.ifname.c_str());
    if (!ifindex) fail("if_nametoindex " + o.ifname);
    GenSkel g(gen_live__open_and_load());
    if (!g) fail("gen_live__open_and_load");
    FrameSpec fs;
    fs.family = o.family;
    parseMac(o.dst_mac, fs.dst_mac);
    parseMac(o.src_mac, fs.src_mac);
    parseIp(o.src_ip, o.family, fs.src);
    parseIp(o.dst_ip, o.family, fs.dst);
    uint32_t base = 0;
    std::memcpy(&base, fs.src + (o.family == 4 ? 0 : 12), 4);
    bench_src src{static_cast<uint32_t>(o.sources), ntohl(base)};
    uint32_t zero = 0;
    updateElem(bpf_map__fd(g->maps.gl_src), &zero, &src, "gl_src");
    resetPerCpuCounter(bpf_map__fd(g->maps.gl_counter));
    std::vector<uint8_t> frame = buildFrame(fs);
    xdp_md ctx{};
    ctx.data_end = frame.size();
    ctx.ingress_ifindex = ifindex;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = (uint32_t)frame.size(),
                .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = (int)o.packets,
                .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
    auto t0 = std::chrono::steady_clock::now();
    if (bpf_prog_test_run_opts(bpf_program__fd(g->progs.gen_live), &opts) != 0)
        fail("bpf_prog_test_run_opts(LIVE_FRAMES)");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("generated=%llu seconds=%.6f pps=%.0f\n", (unsigned long long)o.packets, secs,
                o.packets / secs);
}

void runLoad(const std::string& ifname, const std::string& prog, uint64_t pps, uint64_t burst) {
    int ifindex = if_nametoindex(ifname.c_str());
    if (!ifindex) fail("if_nametoindex " + ifname);
    int fd;
    RlSkel rl;
    DropSkel drop;
    if (prog == "drop") {
        drop.reset(xdp_drop__open_and_load());
        if (!drop) fail("xdp_drop__open_and_load");
        fd = bpf_program__fd(drop->progs.bench_drop);
    } else if (prog == "ratelimit") {
        rl = loadRatelimit();
        rl_config cfg = defaultRuntimeConfig();
        uint32_t zero = 0;
        updateElem(bpf_map__fd(rl->maps.rl_cfg), &zero, &cfg, "rl_cfg");
        rl_rule def{};
        def.action = RL_ACT_LIMIT;
        def.on_exceed = RL_EXCEED_DROP;
        def.n_tiers = 1;
        def.generation = 1;
        def.tiers[0] = makeMeter(Meter::TokenBucket, pps, burst, 32, 128);
        uint32_t id = RL_RULE_DEFAULT;
        updateElem(bpf_map__fd(rl->maps.rl_rules), &id, &def, "rl_rules");
        fd = bpf_program__fd(rl->progs.rl_xdp);
    } else {
        fail("unknown --prog " + prog, 0);
    }
    // Netlink attachment outlives this process (the kernel holds the program).
    if (bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, nullptr) != 0) fail("bpf_xdp_attach");
    std::printf("attached %s prog_id=%u\n", prog.c_str(), [&] {
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        bpf_obj_get_info_by_fd(fd, &info, &len);
        return info.id;
    }());
}

std::vector<uint64_t> parseList(const std::string& s) {
    std::vector<uint64_t> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(std::stoull(item));
    return out;
}

int realMain(int argc, char** argv) {
    if (argc < 2) fail("usage: rl_bench cost|mem|gen|load [options]", 0);
    const std::string cmd = argv[1];
    std::map<std::string, std::string> opt;
    for (int i = 2; i < argc; i++) {
        std::string a = argv[i];
        if (a.rfind("--", 0) != 0) fail("unexpected argument " + a, 0);
        if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
            opt[a.substr(2)] = argv[++i];
        else
            opt[a.substr(2)] = "1";
    }
    auto get = [&](const char* k, const std::string& def = "") {
        auto it = opt.find(k);
        return it == opt.end() ? def : it->second;
    };
    libbpf_set_print([](enum libbpf_print_level lvl, const char* fmt, va_list ap) {
        return lvl == LIBBPF_WARN ? std::vfprintf(stderr, fmt, ap) : 0;
    });
    if (cmd == "cost") {
        CostOptions o;
        o.ifname = get("ifname");
        if (opt.count("sources")) o.sources = parseList(get("sources"));
        if (opt.count("families")) {
            o.families.clear();
            for (auto f : parseList(get("families"))) o.families.push_back((int)f);
        }
        o.runs = std::stoi(get("runs", "3"));
        o.min_repeat = std::stoull(get("min-repeat", "2000000"));
        o.cold = !opt.count("no-cold");
        o.two_tier = !opt.count("no-2tier");
        o.only_two_tier = opt.count("only-2tier") > 0;
        if (o.only_two_tier && !o.two_tier) fail("--only-2tier and --no-2tier exclude each other", 0);
        o.meters = get("meters");
        if (opt.count("talker-shift")) o.talker_shift = std::stoi(get("talker-shift"));
        o.no_dcache = opt.count("no-dcache") > 0;
        runCost(o);
    } else if (cmd == "mem") {
        runMem();
    } else if (cmd == "gen") {
        GenOptions o;
        o.ifname = get("ifname");
        o.dst_mac = get("dst-mac");
        o.src_mac = get("src-mac", o.src_mac);
        o.src_ip = get("src-ip");
        o.dst_ip = get("dst-ip");
        o.family = std::stoi(get("family", "4"));
        o.sources = std::stoull(get("sources", "256"));
        o.packets = std::stoull(get("packets", "1000000"));
        runGen(o);
    } else if (cmd == "load") {
        runLoad(get("ifname"), get("prog"), std::stoull(get("rate", "1000")), std::stoull(get("burst", "100")));
    } else {
        fail("unknown command " + cmd, 0);
    }
    return 0;
}

}  // namespace
}  // namespace ratelimit::bench

int main(int argc, char** argv) {
    try {
        return ratelimit::bench::realMain(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rl_bench: %s\n", e.what());
        return 1;
    }
}
