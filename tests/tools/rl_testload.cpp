// rl_testload: development loader for the lab, NOT the daemon. Loads the XDP
// program from its skeleton, writes a few rules straight into rl_rules/rl_lpm4/
// rl_cfg (meters from rules/meter_params), attaches it to an interface of the
// current network namespace, and on SIGINT/SIGTERM prints the per-rule
// counters and detaches. Lets the lab tools be checked without ratelimitd.
//
//   rl_testload --ifname rx0 [--generic] [--ready FILE]
//               --rule CIDR:tb:PPS:BURST | CIDR:gcra:PPS:BURST | CIDR:sw:LIMIT:WINDOW_MS ...
//
// Rule k (1-based, in argument order) gets rule id k; unmatched traffic hits the
// zeroed default rule (allow). Output on exit: "rule ID pass N drop N" lines.
#include <linux/if_link.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// The skeleton's `struct ratelimit` would clash with namespace ratelimit.
#define ratelimit rl_skel
#include "ratelimit.skel.h"
#undef ratelimit
#include "ratelimit/abi.h"
#include "rules/meter_params.hpp"

using namespace ratelimit;

namespace {
volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

[[noreturn]] void die(const std::string& m) {
    fprintf(stderr, "rl_testload: %s\n", m.c_str());
    exit(1);
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> v;
    size_t p = 0;
    for (;;) {
        size_t c = s.find(sep, p);
        v.push_back(s.substr(p, c == std::string::npos ? c : c - p));
        if (c == std::string::npos) return v;
        p = c + 1;
    }
}
}  // namespace

int main(int argc, char** argv) {
    std::string ifname, ready;
    bool generic = false;
    std::vector<std::string> rules;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--ifname" && i + 1 < argc) ifname = argv[++i];
        else if (a == "--generic") generic = true;
        else if (a == "--ready" && i + 1 < argc) ready = argv[++i];
        else if (a == "--rule" && i + 1 < argc) rules.push_back(argv[++i]);
        else die("bad argument " + a);
    }
    unsigned ifindex = if_nametoindex(ifname.c_str());
    if (!ifindex) die("no interface " + ifname);

    rl_skel* obj = ratelimit__open_and_load();
    if (!obj) die("open/load failed");

    rl_config cfg{};
    cfg.abi_version = RL_ABI_VERSION;
    cfg.malformed_verdict = RL_VERDICT_DROP;
    cfg.state_full_verdict = RL_VERDICT_PASS;
    uint32_t zero = 0;
    if (bpf_map__update_elem(obj->maps.rl_cfg, &zero, 4, &cfg, sizeof(cfg), BPF_ANY)) die("rl_cfg");

    uint32_t id = 1;
    for (auto& spec : rules) {
        auto p = split(spec, ':');
        if (p.size() != 4) die("bad --rule " + spec);
        auto cidr = split(p[0], '/');
        rl_lpm4_key k{};
        k.prefixlen = cidr.size() == 2 ? (uint32_t)atoi(cidr[1].c_str()) : 32;
        if (inet_pton(AF_INET, cidr[0].c_str(), &k.addr) != 1) die("bad cidr " + p[0]);
        uint64_t a = strtoull(p[2].c_str(), nullptr, 10), b = strtoull(p[3].c_str(), nullptr, 10);
        Result<rl_meter> m = p[1] == "tb"   ? tokenBucketMeter({{a, RL_NSEC_PER_SEC}, b, {}, 0})
                             : p[1] == "gcra" ? gcraMeter({{a, RL_NSEC_PER_SEC}, b})
                                              : windowMeter({true, a, b * 1000000ull});
        if (!m) die("meter for " + spec);
        rl_rule r{};
        r.action = RL_ACT_LIMIT;
        r.on_exceed = RL_EXCEED_DROP;
        r.n_tiers = 1;
        r.generation = 1;
        r.tiers[0] = *m;
        r.tiers[0].prefix_v4 = 32;
        r.tiers[0].prefix_v6 = 64;
        if (bpf_map__update_elem(obj->maps.rl_rules, &id, 4, &r, sizeof(r), BPF_ANY)) die("rl_rules");
        rl_match_set set{};
        set.count = 1;
        set.m[0].rule_id = (uint16_t)id;
        if (bpf_map__update_elem(obj->maps.rl_lpm4, &k, sizeof(k), &set, sizeof(set), BPF_ANY)) die("rl_lpm4");
        id++;
    }

    int prog_fd = bpf_program__fd(obj->progs.rl_xdp);
    uint32_t flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
    if (int err = bpf_xdp_attach((int)ifindex, prog_fd, flags, nullptr))
        die("bpf_xdp_attach: " + std::string(strerror(-err)));
    signal(SIGINT, onSignal);
    signal(SIGTERM, onSignal);
    if (!ready.empty()) {
        FILE* f = fopen(ready.c_str(), "w");
        if (f) fclose(f);
    }
    while (!g_stop) pause();

    bpf_xdp_detach((int)ifindex, flags, nullptr);
    int ncpu = libbpf_num_possible_cpus();
    std::vector<rl_counter> cells(ncpu);
    for (uint32_t r = 0; r < id; r++) {
        uint64_t sums[RL_REASON__MAX] = {};
        for (uint32_t reason = 0; reason < RL_REASON__MAX; reason++) {
            uint32_t key = r * RL_REASON__MAX + reason;
            if (bpf_map__lookup_elem(obj->maps.rl_stats, &key, 4, cells.data(),
                                     cells.size() * sizeof(rl_counter), 0))
                die("rl_stats");
            for (auto& c : cells) sums[reason] += c.packets;
        }
        printf("rule %u pass %llu drop %llu\n", r, (unsigned long long)sums[RL_REASON_PASS],
               (unsigned long long)sums[RL_REASON_DROP_RATE]);
    }
    ratelimit__destroy(obj);
    return 0;
}
