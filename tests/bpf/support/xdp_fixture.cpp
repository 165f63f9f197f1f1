#include "bpf/support/xdp_fixture.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "bpf/lib/known.h"
#include "maps/known_filter.hpp"
#include "rules/meter_params.hpp"

// The skeleton's struct is named `ratelimit`, like our namespace: a struct and
// a namespace cannot share a name in one scope, so the generated header is
// wrapped in its own namespace (its system includes are already included above,
// so only the skeleton's own definitions land in rlskel). Its C++ helper
// methods are defined non-inline: include it in this one translation unit only.
namespace rlskel {
#include "ratelimit.skel.h"
}

namespace ratelimit::test {

rlskel::ratelimit* XdpFixture::skel_ = nullptr;
ring_buffer* XdpFixture::rb_ = nullptr;
std::vector<rl_event>* XdpFixture::pending_ = nullptr;
std::string XdpFixture::netns_;
int XdpFixture::ifindex_ = 0;

namespace {

void check(int rc, const std::string& what) {
    if (rc < 0) throw std::runtime_error(what + ": " + std::strerror(rc == -1 ? errno : -rc));
}

int sh(const std::string& cmd) {
    return system(cmd.c_str());
}

// Runs `fn` with the calling thread inside network namespace `name`.
template <typename Fn>
void inNetns(const std::string& name, Fn fn) {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (self < 0 || target < 0) throw std::runtime_error("open netns " + name);
    check(setns(target, CLONE_NEWNET), "setns " + name);
    try {
        fn();
    } catch (...) {
        setns(self, CLONE_NEWNET);
        close(self);
        close(target);
        throw;
    }
    check(setns(self, CLONE_NEWNET), "setns back");
    close(self);
    close(target);
}

int onEvent(void* ctx, void* data, size_t size) {
    auto* v = static_cast<std::vector<rl_event>*>(ctx);
    if (size >= sizeof(rl_event)) {
        rl_event e;
        std::memcpy(&e, data, sizeof(e));
        v->push_back(e);
    }
    return 0;
}

std::pair<std::vector<uint8_t>, uint32_t> parseCidr(const std::string& cidr) {
    auto slash = cidr.find('/');
    auto addr = parseAddr(cidr.substr(0, slash));
    uint32_t plen = slash == std::string::npos ? addr.size() * 8 : std::stoul(cidr.substr(slash + 1));
    return {addr, plen};
}


}  // namespace

// ---- Counters ------------------------------------------------------------------

uint64_t Counters::packets(uint32_t rule, uint32_t reason) const {
    return stats.at(rule * RL_REASON__MAX + reason).packets;
}
uint64_t Counters::bytes(uint32_t rule, uint32_t reason) const {
    return stats.at(rule * RL_REASON__MAX + reason).bytes;
}
uint64_t Counters::totalPackets() const {
    uint64_t n = 0;
    for (auto& c : stats) n += c.packets;
    return n;
}
Counters Counters::operator-(const Counters& before) const {
    Counters d = *this;
    for (size_t i = 0; i < d.stats.size(); i++) {
        d.stats[i].packets -= before.stats[i].packets;
        d.stats[i].bytes -= before.stats[i].bytes;
    }
    for (size_t i = 0; i < d.gstats.size(); i++) d.gstats[i] -= before.gstats[i];
    return d;
}

// ---- suite lifecycle -------------------------------------------------------------

void XdpFixture::setUpSuite(const LoadOptions& opts) {
    libbpf_set_print(nullptr);  // the verifier log only matters when load fails (printed below)
    skel_ = rlskel::ratelimit__open();
    if (!skel_) throw std::runtime_error("ratelimit__open failed");
    auto shrink = [](bpf_map* m, uint32_t n) { check(bpf_map__set_max_entries(m, n), "set_max_entries"); };
    shrink(skel_->maps.rl_state4, opts.state_entries);
    shrink(skel_->maps.rl_state6, opts.state_entries);
    shrink(skel_->maps.rl_block4, opts.block_entries);
    shrink(skel_->maps.rl_block6, opts.block_entries);
    shrink(skel_->maps.rl_ovr4, 1024);
    shrink(skel_->maps.rl_ovr6, 1024);
    shrink(skel_->maps.rl_lpm4, 1024);
    shrink(skel_->maps.rl_lpm6, 1024);
    shrink(skel_->maps.rl_talkers, 1024);
    int rc = rlskel::ratelimit__load(skel_);
    if (rc) {
        rlskel::ratelimit__destroy(skel_);
        skel_ = nullptr;
        check(rc, "ratelimit__load");
    }
    pending_ = new std::vector<rl_event>();
    rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.rl_events), onEvent, pending_, nullptr);
    if (!rb_) throw std::runtime_error("ring_buffer__new failed");

    // RL_BPF_TEST_DETACHED=1 measures the unattached (slow) path
    if (opts.attach_to_veth && !getenv("RL_BPF_TEST_DETACHED")) {
        netns_ = "rltest-" + std::to_string(getpid()) + "-" + std::to_string(rand() % 100000);
        if (sh("ip netns add " + netns_) != 0 ||
            sh("ip -n " + netns_ + " link add rlt0 type veth peer name rlt1") != 0 ||
            sh("ip -n " + netns_ + " link set rlt0 up") != 0)
            throw std::runtime_error("creating netns/veth " + netns_);
        int prog = bpf_program__fd(skel_->progs.rl_xdp);
        inNetns(netns_, [&] {
            ifindex_ = if_nametoindex("rlt0");
            if (!ifindex_) throw std::runtime_error("if_nametoindex rlt0");
            // RL_BPF_TEST_NATIVE=1: driver mode (veth supports it), for measurements
            uint32_t mode = getenv("RL_BPF_TEST_NATIVE") ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
            check(bpf_xdp_attach(ifindex_, prog, mode, nullptr), "bpf_xdp_attach");
        });
    }
}

void XdpFixture::TearDownTestSuite() {
    if (!netns_.empty()) {
        // deleting the namespace deletes the veth pair and with it the attachment
        sh("ip netns del " + netns_);
        netns_.clear();
        ifindex_ = 0;
    }
    if (rb_) ring_buffer__free(rb_);
    rb_ = nullptr;
    delete pending_;
    pending_ = nullptr;
    if (skel_) rlskel::ratelimit__destroy(skel_);
    skel_ = nullptr;
}

void XdpFixture::clearMap(int fd) {
    // keys are at most 24 bytes (rl_key6)
    uint8_t key[64], next[64];
    while (bpf_map_get_next_key(fd, nullptr, next) == 0) {
        if (bpf_map_delete_elem(fd, next)) break;
    }
    (void)key;
}

void XdpFixture::SetUp() {
    ASSERT_NE(skel_, nullptr) << "skeleton not loaded (needs root and BPF)";
    for (bpf_map* m : {skel_->maps.rl_lpm4, skel_->maps.rl_lpm6, skel_->maps.rl_state4,
                       skel_->maps.rl_state6, skel_->maps.rl_block4, skel_->maps.rl_block6,
                       skel_->maps.rl_ovr4, skel_->maps.rl_ovr6, skel_->maps.rl_talkers})
        clearMap(bpf_map__fd(m));
    // arrays: zero every slot
    rl_rule rule{};
    rl_state st{};
    for (uint32_t i = 0; i < RL_MAX_RULES; i++) {
        ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_rules), &i, &rule, BPF_ANY), 0);
        ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_global), &i, &st, BPF_ANY), 0);
        rl_admit_state adm{};
        ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_admit), &i, &adm, BPF_ANY), 0);
    }
    std::vector<rl_evlim> lim(nCpus());
    setHintWords(std::vector<uint64_t>(RL_HINT_ENTRIES, 0));
    std::vector<rl_dcache> dc(nCpus());
    for (uint32_t i = 0; i <= RL_DCACHE_SLOTS; i++)
        ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_dcache), &i, dc.data(), BPF_ANY), 0);
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_evlim), &zero, lim.data(), BPF_ANY), 0);
    auto known = std::make_unique<rl_known>();  // not built: the fast path ignores it
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_known), &zero, known.get(), BPF_ANY), 0);
    setConfig(defaultConfig());
    events();  // drop leftovers of earlier tests
}

void XdpFixture::TearDown() {}

// ---- configuration ---------------------------------------------------------------

rl_config XdpFixture::defaultConfig() {
    rl_config c{};
    c.abi_version = RL_ABI_VERSION;
    c.malformed_verdict = RL_VERDICT_DROP;
    c.state_full_verdict = RL_VERDICT_PASS;
    c.event_rate = 100;
    c.event_burst = 200;
    c.talker_shift = 0;
    c.flags = RL_CFG_F_BLOCKS;  // tests install block rules freely (the daemon sets it per config)
    return c;
}

void XdpFixture::setConfig(const rl_config& cfg) {
    uint32_t zero = 0;
    rl_config c = cfg;
    c.generation = ++generation_;
    check(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_cfg), &zero, &c, BPF_ANY), "update rl_cfg");
}

void XdpFixture::bumpGeneration() {
    uint32_t zero = 0;
    rl_config c{};
    check(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.rl_cfg), &zero, &c), "lookup rl_cfg");
    setConfig(c);
}

void XdpFixture::setRule(uint32_t id, const rl_rule& rule) {
    setRuleSameGeneration(id, rule);
    bumpGeneration();
}

void XdpFixture::setHintWords(const std::vector<uint64_t>& words) {
    if (words.size() != RL_HINT_ENTRIES) throw std::invalid_argument("setHintWords: size");
    for (uint32_t i = 0; i < RL_HINT_ENTRIES; i++)
        check(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_lpmhint), &i, &words[i], BPF_ANY), "update rl_lpmhint");
}

void XdpFixture::setRuleSameGeneration(uint32_t id, const rl_rule& rule) {
    check(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_rules), &id, &rule, BPF_ANY), "update rl_rules");
}

void XdpFixture::setLpm4(const std::string& cidr, const rl_match_set& set) {
    auto [addr, plen] = parseCidr(cidr);
    if (addr.size() != 4) throw std::invalid_argument("setLpm4: " + cidr);
    rl_lpm4_key k{};
    k.prefixlen = plen;
    std::memcpy(&k.addr, addr.data(), 4);
    check(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_lpm4), &k, &set, BPF_ANY), "update rl_lpm4");
    bumpGeneration();
}

void XdpFixture::setLpm6(const std::string& cidr, const rl_match_set& set) {
    auto [addr, plen] = parseCidr(cidr);
    if (addr.size() != 16) throw std::invalid_argument("setLpm6: " + cidr);
    rl_lpm6_key k{};
    k.prefixlen = plen;
    std::memcpy(k.addr, addr.data(), 16);
    check(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_lpm6), &k, &set, BPF_ANY), "update rl_lpm6");
    bumpGeneration();
}

void XdpFixture::setOverride4(const std::string& addr, uint64_t block_until_ns) {
    auto a = parseAddr(addr);
    rl_override o{};
    o.block_until_ns = block_until_ns;
    check(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_ovr4), a.data(), &o, BPF_ANY), "update rl_ovr4");
}

void XdpFixture::setOverride6(const std::string& addr, uint64_t block_until_ns) {
    auto a = parseAddr(addr);
    if (a.size() != 16) throw std::invalid_argument("setOverride6: " + addr);
    rl_override o{};
    o.block_until_ns = block_until_ns;
    check(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_ovr6), a.data(), &o, BPF_ANY), "update rl_ovr6");
}

// ---- running ---------------------------------------------------------------------

int XdpFixture::passes(const Frame& f, int n) {
    int p = 0;
    for (int i = 0; i < n; i++) p += run(f) == XDP_PASS;
    return p;
}

int XdpFixture::tryRun(const Frame& f, uint32_t repeat) {
    // the program may not write more than it got (no adjust_head/tail): output = input size
    std::vector<uint8_t> out(f.size() + 256);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_out = out.data(),
                .data_size_in = static_cast<__u32>(f.size()),
                .data_size_out = static_cast<__u32>(out.size()), .repeat = static_cast<int>(repeat));
    int rc = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.rl_xdp), &opts);
    if (rc) return rc < 0 ? (errno ? -errno : rc) : -rc;
    return static_cast<int>(opts.retval);
}

int XdpFixture::run(const Frame& f, uint32_t repeat) {
    int v = tryRun(f, repeat);
    EXPECT_GE(v, 0) << "BPF_PROG_TEST_RUN refused a " << f.size() << "-byte frame: " << std::strerror(-v);
    return v;
}

namespace {
// Batched read of `entries` consecutive array cells starting at key `first`
// (batch lookups resume *after* in_batch, so the start key is first - 1).
std::vector<uint32_t> readCells(int fd, uint32_t first, uint32_t entries, size_t value_size,
                                int ncpus, std::vector<uint8_t>& vals) {
    std::vector<uint32_t> keys(entries);
    vals.assign(size_t(entries) * ncpus * value_size, 0);
    uint32_t in_batch = first - 1, out_batch = 0, count = entries;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_lookup_batch(fd, first ? &in_batch : nullptr, &out_batch, keys.data(), vals.data(),
                                  &count, &opts);
    if (rc && errno != ENOENT) check(rc, "bpf_map_lookup_batch");
    if (count != entries) throw std::runtime_error("short batch read");
    return keys;
}
}  // namespace

Counters XdpFixture::counters() const {
    return counters(std::vector<uint32_t>{});
}

Counters XdpFixture::counters(const std::vector<uint32_t>& rule_rows) const {
    // batched lookups: tests snapshot counters around every run
    int n = nCpus();
    Counters c;
    c.stats.assign(RL_STATS_ENTRIES, rl_counter{});
    c.gstats.assign(RL_GC__MAX, 0);
    std::vector<uint8_t> vals;
    std::vector<uint32_t> keys;
    uint32_t count;
    bool whole = rule_rows.empty();  // empty: every row, one batch
    for (size_t r = 0; r < (whole ? 1 : rule_rows.size()); r++) {
        uint32_t first = whole ? 0 : rule_rows[r] * RL_REASON__MAX;
        count = whole ? RL_STATS_ENTRIES : RL_REASON__MAX;
        keys = readCells(bpf_map__fd(skel_->maps.rl_stats), first, count, sizeof(rl_counter), n, vals);
        for (uint32_t i = 0; i < count; i++) {
            for (int cpu = 0; cpu < n; cpu++) {
                rl_counter v;
                std::memcpy(&v, &vals[(size_t(i) * n + cpu) * sizeof(v)], sizeof(v));
                c.stats.at(keys[i]).packets += v.packets;
                c.stats.at(keys[i]).bytes += v.bytes;
            }
        }
    }
    keys = readCells(bpf_map__fd(skel_->maps.rl_gstats), 0, RL_GC__MAX, sizeof(uint64_t), n, vals);
    for (uint32_t i = 0; i < RL_GC__MAX; i++) {
        for (int cpu = 0; cpu < n; cpu++) {
            uint64_t v;
            std::memcpy(&v, &vals[(size_t(i) * n + cpu) * sizeof(v)], sizeof(v));
            c.gstats.at(keys[i]) += v;
        }
    }
    return c;
}

// ---- state -------------------------------------------------------------------------

rl_key4 key4(const std::string& addr, uint16_t rule, uint8_t tier, uint8_t plen) {
    auto a = parseAddr(addr);
    rl_key4 k{};
    std::memcpy(&k.addr, a.data(), 4);
    k.rule_id = rule;
    k.tier = tier;
    k.prefix_len = plen;
    return k;
}

bool XdpFixture::state4(const std::string& addr, uint16_t rule, uint8_t tier, uint8_t plen,
                        rl_state* out) const {
    rl_key4 k = key4(addr, rule, tier, plen);
    return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.rl_state4), &k, out) == 0;
}

size_t XdpFixture::countKeys4() const {
    rl_key4 k{}, next{};
    size_t n = 0;
    int fd = bpf_map__fd(skel_->maps.rl_state4);
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        n++;
        k = next;
        prev = &k;
    }
    return n;
}

bool XdpFixture::talker(const std::string& addr, rl_talker* out) const {
    auto a = parseAddr(addr);
    rl_talker_key k{};
    std::memcpy(k.addr, a.data(), a.size());
    k.family = a.size() == 4 ? 4 : 6;
    std::vector<rl_talker> per(nCpus());
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.rl_talkers), &k, per.data())) return false;
    *out = rl_talker{};
    for (auto& t : per) {
        out->packets += t.packets;
        out->bytes += t.bytes;
        out->dropped += t.dropped;
        if (t.packets) out->rule_id = t.rule_id;
    }
    return true;
}

bool XdpFixture::deleteState4(const std::string& addr, uint16_t rule, uint8_t tier, uint8_t plen) {
    rl_key4 k = key4(addr, rule, tier, plen);
    return bpf_map_delete_elem(bpf_map__fd(skel_->maps.rl_state4), &k) == 0;
}

void XdpFixture::putState4(const std::string& addr, uint16_t rule, uint8_t tier, uint8_t plen, const rl_state& st) {
    rl_key4 k = key4(addr, rule, tier, plen);
    check(bpf_map_update_elem(bpf_map__fd(skel_->maps.rl_state4), &k, &st, BPF_ANY), "update rl_state4");
}

MapFds XdpFixture::knownFds() {
    MapFds fds;
    fds.known = bpf_map__fd(skel_->maps.rl_known);
    fds.state4 = bpf_map__fd(skel_->maps.rl_state4);
    fds.state6 = bpf_map__fd(skel_->maps.rl_state6);
    return fds;
}

void XdpFixture::rebuildKnown() {
    auto kf = KnownFilter::open(knownFds());
    ASSERT_TRUE(kf) << kf.error().message();
    auto r = (*kf)->rebuild();
    ASSERT_TRUE(r) << r.error().message();
}

std::unique_ptr<rl_known> XdpFixture::readKnown() const {
    auto k = std::make_unique<rl_known>();
    uint32_t zero = 0;
    check(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.rl_known), &zero, k.get()), "lookup rl_known");
    return k;
}

bool XdpFixture::knownBit(const rl_known& k, int half, uint32_t bit) {
    return (k.words[half & 1][rl_known_word(bit)] & rl_known_mask(bit)) != 0;
}

bool XdpFixture::block4(const std::string& addr, uint16_t rule, uint8_t tier, uint8_t plen,
                        rl_block* out) const {
    rl_key4 k = key4(addr, rule, tier, plen);
    return bpf_map_lookup_elem(bpf_map__fd(skel_->maps.rl_block4), &k, out) == 0;
}

rl_dcache XdpFixture::dcacheSummary(int cpu) const {
    std::vector<rl_dcache> v(nCpus());
    uint32_t key = RL_DCACHE_SLOTS;
    check(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.rl_dcache), &key, v.data()), "lookup rl_dcache");
    return v.at(cpu);
}

rl_admit_state XdpFixture::admitState(uint32_t rule) const {
    rl_admit_state s{};
    check(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.rl_admit), &rule, &s), "lookup rl_admit");
    return s;
}

std::vector<rl_event> XdpFixture::events() {
    ring_buffer__consume(rb_);
    std::vector<rl_event> out;
    out.swap(*pending_);
    return out;
}

uint64_t XdpFixture::nowNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * RL_NSEC_PER_SEC + ts.tv_nsec;
}

int XdpFixture::nCpus() {
    return libbpf_num_possible_cpus();
}

// A fresh copy of the program, opened (not loaded) with small state maps.
static rlskel::ratelimit* openSmallCopy() {
    auto* skel = rlskel::ratelimit__open();
    if (!skel) throw std::runtime_error("ratelimit__open failed");
    bpf_map__set_max_entries(skel->maps.rl_state4, 64);
    bpf_map__set_max_entries(skel->maps.rl_state6, 64);
    return skel;
}

std::string verifierStatsLine() {
    auto* skel = openSmallCopy();
    static char log[1 << 16];
    log[0] = 0;
    bpf_program__set_log_buf(skel->progs.rl_xdp, log, sizeof(log));
    bpf_program__set_log_level(skel->progs.rl_xdp, 4 /* BPF_LOG_STATS */);
    int rc = rlskel::ratelimit__load(skel);
    rlskel::ratelimit__destroy(skel);
    check(rc, "ratelimit__load");
    std::string all(log), line;
    auto pos = all.find("processed ");
    if (pos != std::string::npos) line = all.substr(pos, all.find('\n', pos) - pos);
    return line;
}

std::map<std::string, int> xlatedHelperCalls() {
    auto* skel = openSmallCopy();
    int rc = rlskel::ratelimit__load(skel);
    if (rc) {
        rlskel::ratelimit__destroy(skel);
        check(rc, "ratelimit__load");
    }
    int fd = bpf_program__fd(skel->progs.rl_xdp);
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    rc = bpf_obj_get_info_by_fd(fd, &info, &len);
    std::vector<bpf_insn> insns(info.xlated_prog_len / sizeof(bpf_insn));
    if (rc == 0) {
        bpf_prog_info again{};
        again.xlated_prog_len = insns.size() * sizeof(bpf_insn);
        again.xlated_prog_insns = reinterpret_cast<uintptr_t>(insns.data());
        len = sizeof(again);
        rc = bpf_obj_get_info_by_fd(fd, &again, &len);
    }
    rlskel::ratelimit__destroy(skel);
    check(rc, "bpf_obj_get_info_by_fd");

    // A rewritten helper call's imm is its target's offset from __bpf_call_base.
    std::map<uint64_t, std::string> syms;
    uint64_t base = 0;
    FILE* f = fopen("/proc/kallsyms", "re");
    if (!f) throw std::runtime_error("/proc/kallsyms: " + std::string(strerror(errno)));
    char name[256], type;
    unsigned long long addr;
    while (fscanf(f, "%llx %c %255s%*[^\n]", &addr, &type, name) == 3) {
        if (std::strcmp(name, "__bpf_call_base") == 0) base = addr;
        if (type == 'T' || type == 't') syms.emplace(addr, name);
    }
    fclose(f);
    if (!base) throw std::runtime_error("no __bpf_call_base in /proc/kallsyms (kptr_restrict?)");
    std::map<std::string, int> calls;
    for (const bpf_insn& in : insns) {
        if (in.code != (BPF_JMP | BPF_CALL) || in.src_reg != 0) continue;
        auto it = syms.find(base + static_cast<int64_t>(in.imm));
        calls[it == syms.end() ? "?" : it->second]++;
    }
    return calls;
}

PinToCpu::PinToCpu(int cpu) {
    cpu_set_t old, want;
    CPU_ZERO(&old);
    sched_getaffinity(0, sizeof(old), &old);
    saved_.assign(reinterpret_cast<uint8_t*>(&old), reinterpret_cast<uint8_t*>(&old) + sizeof(old));
    CPU_ZERO(&want);
    CPU_SET(cpu, &want);
    check(sched_setaffinity(0, sizeof(want), &want), "sched_setaffinity");
}

PinToCpu::~PinToCpu() {
    cpu_set_t old;
    std::memcpy(&old, saved_.data(), sizeof(old));
    sched_setaffinity(0, sizeof(old), &old);
}

// ---- rule helpers ---------------------------------------------------------------------

rl_meter must(Result<rl_meter> r) {
    if (!r) throw std::invalid_argument(r.error().message());
    return r.value();
}

rl_meter tier(rl_meter m, uint8_t prefix_v4, uint8_t prefix_v6) {
    m.prefix_v4 = prefix_v4;
    m.prefix_v6 = prefix_v6;
    return m;
}

rl_rule limitRule(std::vector<rl_meter> tiers, uint8_t on_exceed, uint64_t block_ns) {
    if (tiers.size() > RL_MAX_TIERS) throw std::invalid_argument("too many tiers");
    rl_rule r{};
    r.action = RL_ACT_LIMIT;
    r.on_exceed = on_exceed;
    r.block_ns = block_ns;
    r.n_tiers = static_cast<uint8_t>(tiers.size());
    r.generation = 1;
    for (size_t i = 0; i < tiers.size(); i++) r.tiers[i] = tiers[i];
    return r;
}

rl_rule actionRule(uint8_t action) {
    rl_rule r{};
    r.action = action;
    r.generation = 1;
    return r;
}

rl_match match(uint16_t rule_id) {
    return rl_match{rule_id, 0, 0, 0, 0};
}
rl_match matchProto(uint16_t rule_id, uint8_t proto) {
    return rl_match{rule_id, RL_RULE_F_PROTO, proto, 0, 0};
}
rl_match matchPorts(uint16_t rule_id, uint8_t proto, uint16_t lo, uint16_t hi) {
    return rl_match{rule_id, RL_RULE_F_PROTO | RL_RULE_F_PORTS, proto, lo, hi};
}
rl_match_set matchSet(std::vector<rl_match> m) {
    if (m.size() > RL_MAX_MATCH) throw std::invalid_argument("too many matches");
    rl_match_set s{};
    s.count = static_cast<uint32_t>(m.size());
    for (size_t i = 0; i < m.size(); i++) s.m[i] = m[i];
    return s;
}

rl_meter tbPackets(uint64_t per_sec, uint64_t burst) {
    return must(tokenBucketMeter({.packets = {per_sec, RL_NSEC_PER_SEC}, .burst_packets = burst}));
}
rl_meter tbBytes(uint64_t bytes_per_sec, uint64_t burst_bytes) {
    return must(tokenBucketMeter({.bytes = {bytes_per_sec, RL_NSEC_PER_SEC}, .burst_bytes = burst_bytes}));
}
rl_meter tbBoth(uint64_t per_sec, uint64_t burst, uint64_t bytes_per_sec, uint64_t burst_bytes) {
    return must(tokenBucketMeter({.packets = {per_sec, RL_NSEC_PER_SEC},
                                    .burst_packets = burst,
                                    .bytes = {bytes_per_sec, RL_NSEC_PER_SEC},
                                    .burst_bytes = burst_bytes}));
}
rl_meter gcra(uint64_t per_sec, uint64_t burst) {
    return must(gcraMeter({.packets = {per_sec, RL_NSEC_PER_SEC}, .burst = burst}));
}
rl_meter gcraPerHour(uint64_t per_hour, uint64_t burst) {
    return must(gcraMeter({.packets = {per_hour, 3600 * RL_NSEC_PER_SEC}, .burst = burst}));
}
rl_meter window(bool sliding, uint64_t limit, uint64_t window_ns) {
    return must(windowMeter({.sliding = sliding, .limit = limit, .window_ns = window_ns}));
}

}  // namespace ratelimit::test
