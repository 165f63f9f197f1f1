// rl_flood_tool: the pieces of tests/integration/test_flood_spoofed.sh that
// need the program without the daemon.
//
//   setup     --pin DIR --netns NS --dev IF [--state-entries N] RULE
//             load ratelimit, pin its maps under DIR (bpffs), write rl_cfg and
//             rule 1 for 198.18.0.0/15, attach in driver mode to IF inside NS
//             (the attachment lives with the interface: deleting NS detaches)
//   configure --pin DIR RULE     rewrite rule 1, zero its meters, empty rl_state4
//   stats     --pin DIR          rule 1 counters, global counters, rl_state4 keys
//   flood     --dev IF --count N --pps P --src-base A --src-bits K
//             run in the sending namespace: N frames at P/s from a permutation of
//             A/(32-K) via flood_gen.bpf.c (XDP live frames, XDP_TX out of IF)
//   send      --src A --dst B --port P --pps R --count N   UDP at R/s from A
//   recv      --port P [--idle-ms M] [--max-seconds S]     counts per source
//
// RULE: --tier-pps R --tier-burst B (token bucket per /32) --global-pps R
//       --global-burst B [--admit-rate R --admit-burst B] [--unknown-pps R
//       --unknown-burst B] [--pressure]   (no --admit-rate: admission off)
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "ratelimit/abi.h"
#include "rules/meter_params.hpp"

namespace rlskel {
#include "flood_gen.skel.h"
#include "ratelimit.skel.h"
}  // namespace rlskel

namespace {

using Args = std::map<std::string, std::string>;

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + (errno ? std::string(": ") + std::strerror(errno) : ""));
}

void check(int rc, const std::string& what) {
    if (rc < 0) {
        errno = rc == -1 ? errno : -rc;
        fail(what);
    }
}

uint64_t num(const Args& a, const std::string& k, uint64_t def = ~0ull) {
    auto it = a.find(k);
    if (it == a.end()) {
        if (def == ~0ull) throw std::invalid_argument("missing --" + k);
        return def;
    }
    return std::stoull(it->second);
}

std::string str(const Args& a, const std::string& k) {
    auto it = a.find(k);
    if (it == a.end()) throw std::invalid_argument("missing --" + k);
    return it->second;
}

uint64_t nowNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * RL_NSEC_PER_SEC + ts.tv_nsec;
}

void sleepUntil(uint64_t t_ns) {
    timespec ts{time_t(t_ns / RL_NSEC_PER_SEC), long(t_ns % RL_NSEC_PER_SEC)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

void enterNetns(const std::string& name) {
    int fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open netns " + name);
    check(setns(fd, CLONE_NEWNET), "setns " + name);
    close(fd);
}

rl_meter must(ratelimit::Result<rl_meter> r) {
    if (!r) throw std::invalid_argument(r.error().message());
    return r.value();
}

rl_meter tbPps(uint64_t pps, uint64_t burst) {
    return must(ratelimit::tokenBucketMeter({.packets = {pps, RL_NSEC_PER_SEC}, .burst_packets = burst}));
}

rl_rule ruleFrom(const Args& a) {
    rl_rule r{};
    r.action = RL_ACT_LIMIT;
    r.on_exceed = RL_EXCEED_DROP;
    r.generation = 1;
    r.n_tiers = 1;
    r.tiers[0] = tbPps(num(a, "tier-pps"), num(a, "tier-burst"));
    r.tiers[0].prefix_v4 = 32;
    r.tiers[0].prefix_v6 = 128;
    r.has_global = 1;
    r.global = tbPps(num(a, "global-pps"), num(a, "global-burst"));
    if (a.count("admit-rate")) {
        r.admit = must(ratelimit::gcraMeter({.packets = {num(a, "admit-rate"), RL_NSEC_PER_SEC},
                                             .burst = num(a, "admit-burst")}));
        if (a.count("unknown-pps")) r.unknown = tbPps(num(a, "unknown-pps"), num(a, "unknown-burst"));
    }
    return r;
}

int pinned(const std::string& dir, const char* map) {
    int fd = bpf_obj_get((dir + "/" + map).c_str());
    if (fd < 0) fail("bpf_obj_get " + dir + "/" + map);
    return fd;
}

// Writes rl_cfg and rule 1, zeroes its ceiling and admission state, empties rl_state4.
void configure(const std::string& dir, const Args& a) {
    rl_config cfg{};
    cfg.abi_version = RL_ABI_VERSION;
    cfg.malformed_verdict = RL_VERDICT_DROP;
    cfg.state_full_verdict = RL_VERDICT_PASS;
    if (a.count("pressure")) cfg.flags |= RL_CFG_F_NEW_EMPTY_PRESSURE;
    uint32_t zero = 0, one = 1;
    rl_rule rule = ruleFrom(a);
    rl_state st{};
    rl_admit_state adm{};
    int fd = pinned(dir, RL_MAP_CFG);
    check(bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY), "update rl_cfg");
    close(fd);
    fd = pinned(dir, RL_MAP_STATE4);
    rl_key4 next{};
    while (bpf_map_get_next_key(fd, nullptr, &next) == 0)
        if (bpf_map_delete_elem(fd, &next)) break;
    close(fd);
    fd = pinned(dir, RL_MAP_GLOBAL);
    check(bpf_map_update_elem(fd, &one, &st, BPF_ANY), "update rl_global");
    close(fd);
    fd = pinned(dir, RL_MAP_ADMIT);
    check(bpf_map_update_elem(fd, &one, &adm, BPF_ANY), "update rl_admit");
    close(fd);
    fd = pinned(dir, RL_MAP_RULES);
    check(bpf_map_update_elem(fd, &one, &rule, BPF_ANY), "update rl_rules");
    close(fd);
    rl_match_set set{};
    set.count = 1;
    set.m[0].rule_id = 1;
    rl_lpm4_key k{};
    k.prefixlen = 15;
    inet_pton(AF_INET, "198.18.0.0", &k.addr);
    fd = pinned(dir, RL_MAP_LPM4);
    check(bpf_map_update_elem(fd, &k, &set, BPF_ANY), "update rl_lpm4");
    close(fd);
}

int cmdSetup(const Args& a) {
    std::string dir = str(a, "pin");
    auto* skel = rlskel::ratelimit__open();
    if (!skel) fail("ratelimit__open");
    uint32_t entries = num(a, "state-entries", 8192);
    check(bpf_map__set_max_entries(skel->maps.rl_state4, entries), "set_max_entries");
    check(bpf_map__set_max_entries(skel->maps.rl_state6, 1024), "set_max_entries");
    check(rlskel::ratelimit__load(skel), "ratelimit__load");
    check(bpf_object__pin_maps(skel->obj, dir.c_str()), "pin maps under " + dir);
    configure(dir, a);
    enterNetns(str(a, "netns"));
    int ifindex = if_nametoindex(str(a, "dev").c_str());
    if (!ifindex) fail("if_nametoindex " + str(a, "dev"));
    // driver mode: veth then has NAPI, which XDP_TX from the peer needs
    check(bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.rl_xdp), XDP_FLAGS_DRV_MODE, nullptr),
          "bpf_xdp_attach");
    rlskel::ratelimit__destroy(skel);  // maps stay pinned, the program stays attached
    return 0;
}

int cmdStats(const Args& a) {
    std::string dir = str(a, "pin");
    int ncpu = libbpf_num_possible_cpus();
    static const char* reasons[] = RL_REASON_NAMES;
    static const char* gnames[] = RL_GCOUNTER_NAMES;
    static_assert(sizeof(reasons) / sizeof(reasons[0]) == RL_REASON__MAX);
    static_assert(sizeof(gnames) / sizeof(gnames[0]) == RL_GC__MAX);
    printf("time_ns %llu\n", (unsigned long long)nowNs());
    int fd = pinned(dir, RL_MAP_STATS);
    std::vector<rl_counter> cells(ncpu);
    for (uint32_t r = 0; r < RL_REASON__MAX; r++) {
        uint32_t idx = 1 * RL_REASON__MAX + r;
        check(bpf_map_lookup_elem(fd, &idx, cells.data()), "lookup rl_stats");
        uint64_t p = 0;
        for (auto& c : cells) p += c.packets;
        printf("reason.%s %llu\n", reasons[r], (unsigned long long)p);
    }
    close(fd);
    fd = pinned(dir, RL_MAP_GSTATS);
    std::vector<uint64_t> g(ncpu);
    for (uint32_t i = 0; i < RL_GC__MAX; i++) {
        check(bpf_map_lookup_elem(fd, &i, g.data()), "lookup rl_gstats");
        uint64_t s = 0;
        for (auto v : g) s += v;
        printf("gc.%s %llu\n", gnames[i], (unsigned long long)s);
    }
    close(fd);
    fd = pinned(dir, RL_MAP_STATE4);
    rl_key4 k{}, next{};
    void* prev = nullptr;
    uint64_t keys = 0;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        keys++;
        k = next;
        prev = &k;
    }
    close(fd);
    printf("keys4 %llu\n", (unsigned long long)keys);
    return 0;
}

// Ethernet + IPv4 + UDP frame, 64 bytes on the wire without FCS.
std::vector<uint8_t> floodFrame(const std::string& dst) {
    std::vector<uint8_t> f(60, 0);
    uint8_t* eth = f.data();
    std::memset(eth, 0xff, 6);  // broadcast MAC: accepted by any receiver
    eth[6] = 0x02;
    eth[12] = 0x08;
    uint8_t* ip = eth + 14;
    ip[0] = 0x45;
    uint16_t tot = htons(uint16_t(f.size() - 14));
    std::memcpy(ip + 2, &tot, 2);
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    if (inet_pton(AF_INET, dst.c_str(), ip + 16) != 1) throw std::invalid_argument("dst " + dst);
    uint8_t* udp = ip + 20;
    uint16_t sport = htons(4000), dport = htons(9), ulen = htons(uint16_t(f.size() - 34));
    std::memcpy(udp, &sport, 2);
    std::memcpy(udp + 2, &dport, 2);
    std::memcpy(udp + 4, &ulen, 2);
    return f;
}

int cmdFlood(const Args& a) {
    uint64_t count = num(a, "count"), pps = num(a, "pps"), bits = num(a, "src-bits");
    in_addr base{};
    if (inet_pton(AF_INET, str(a, "src-base").c_str(), &base) != 1 || bits > 24)
        throw std::invalid_argument("--src-base/--src-bits");
    int ifindex = if_nametoindex(str(a, "dev").c_str());
    if (!ifindex) fail("if_nametoindex " + str(a, "dev"));
    auto* skel = rlskel::flood_gen__open();
    if (!skel) fail("flood_gen__open");
    skel->rodata->src_base = ntohl(base.s_addr);
    skel->rodata->src_mask = (1u << bits) - 1;
    skel->rodata->src_stride = 40503;  // odd: a permutation of each lap
    check(rlskel::flood_gen__load(skel), "flood_gen__load");
    auto frame = floodFrame(a.count("dst") ? str(a, "dst") : "198.18.255.254");
    xdp_md ctx{};
    ctx.ingress_ifindex = ifindex;
    ctx.data_end = uint32_t(frame.size());  // the kernel requires data_end == data_size_in
    // paced in 10 ms slices of pps/100 frames
    const uint64_t slice_ns = 10'000'000, per_slice = std::max<uint64_t>(1, pps / 100);
    uint64_t t = nowNs(), start = t, done = 0;
    while (done < count) {
        uint32_t n = uint32_t(std::min(per_slice, count - done));
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                    .data_size_in = uint32_t(frame.size()), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
                    .repeat = int(n), .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
        check(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.flood_gen), &opts),
              "BPF_PROG_TEST_RUN live frames");
        done += n;
        t += slice_ns;
        sleepUntil(t);
    }
    double secs = double(nowNs() - start) / RL_NSEC_PER_SEC;
    printf("frames %llu seconds %.3f\n", (unsigned long long)skel->bss->frames, secs);
    rlskel::flood_gen__destroy(skel);
    return 0;
}

int cmdSend(const Args& a) {
    uint64_t pps = num(a, "pps"), count = num(a, "count");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) fail("socket");
    sockaddr_in src{}, dst{};
    src.sin_family = dst.sin_family = AF_INET;
    dst.sin_port = htons(uint16_t(num(a, "port")));
    if (inet_pton(AF_INET, str(a, "src").c_str(), &src.sin_addr) != 1 ||
        inet_pton(AF_INET, str(a, "dst").c_str(), &dst.sin_addr) != 1)
        throw std::invalid_argument("--src/--dst");
    check(bind(s, reinterpret_cast<sockaddr*>(&src), sizeof(src)), "bind");
    char payload[32] = "ratelimit-flood-test";
    uint64_t t = nowNs(), sent = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (sendto(s, payload, sizeof(payload), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) ==
            ssize_t(sizeof(payload)))
            sent++;
        t += RL_NSEC_PER_SEC / pps;
        sleepUntil(t);
    }
    close(s);
    printf("sent %llu\n", (unsigned long long)sent);
    return 0;
}

int cmdRecv(const Args& a) {
    uint64_t idle_ns = num(a, "idle-ms", 1500) * 1'000'000, max_ns = num(a, "max-seconds", 60) * RL_NSEC_PER_SEC;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) fail("socket");
    int buf = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    sockaddr_in me{};
    me.sin_family = AF_INET;
    me.sin_port = htons(uint16_t(num(a, "port")));
    check(bind(s, reinterpret_cast<sockaddr*>(&me), sizeof(me)), "bind");
    printf("ready\n");
    fflush(stdout);
    std::map<std::string, uint64_t> per;
    uint64_t start = nowNs(), last = 0;
    while (nowNs() - start < max_ns) {
        pollfd p{s, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char b[64];
            sockaddr_in from{};
            socklen_t len = sizeof(from);
            while (recvfrom(s, b, sizeof(b), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len) >= 0) {
                char txt[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &from.sin_addr, txt, sizeof(txt));
                per[txt]++;
                last = nowNs();
                len = sizeof(from);
            }
        }
        if (last && nowNs() - last > idle_ns) break;
    }
    close(s);
    for (auto& [src, n] : per) printf("from %s %llu\n", src.c_str(), (unsigned long long)n);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: rl_flood_tool setup|configure|stats|flood|send|recv --key value ...\n");
        return 2;
    }
    std::string cmd = argv[1];
    Args a;
    for (int i = 2; i < argc; i++) {
        std::string k = argv[i];
        if (k.rfind("--", 0) != 0) {
            fprintf(stderr, "unexpected argument %s\n", argv[i]);
            return 2;
        }
        k = k.substr(2);
        a[k] = (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) ? argv[++i] : "1";
    }
    try {
        libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
        if (cmd == "setup") return cmdSetup(a);
        if (cmd == "configure") return configure(str(a, "pin"), a), 0;
        if (cmd == "stats") return cmdStats(a);
        if (cmd == "flood") return cmdFlood(a);
        if (cmd == "send") return cmdSend(a);
        if (cmd == "recv") return cmdRecv(a);
        fprintf(stderr, "unknown command %s\n", cmd.c_str());
        return 2;
    } catch (const std::exception& e) {
        fprintf(stderr, "rl_flood_tool %s: %s\n", cmd.c_str(), e.what());
        return 1;
    }
}
