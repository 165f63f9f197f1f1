// rl_sender: paced UDP senders for the lab (scripts/lab/lab.sh), one thread.
//
//   rl_sender --dst 198.18.0.2 --port 9000 --out DIR [--size 64] [--max-seconds 60]
//             [--stats FILE [--stats-ms 500]] --flow SRC:PPS:COUNT[:START_MS] [--flow ...]
//
// Every flow sends COUNT packets from SRC (bound, so it must be a local address)
// at exactly PPS packets per second, starting START_MS after the common start.
// Packet k of a flow is due at start + START_MS + k * 1e9 / PPS ns (integer
// arithmetic, no drift). Several flows may share a source: sequence numbers are
// per source, in send order. All flows run in one thread ordered by due time,
// so N flows need one core, not N.
//
// Pacing: clock_nanosleep(TIMER_ABSTIME) on CLOCK_MONOTONIC until 150 us before
// the due time, then busy-wait. CLOCK_MONOTONIC is the clock of
// bpf_ktime_get_ns(). A late packet is sent at once (no skipping); the recorded
// times are what the reference meter replays, so lateness never biases a test.
//
// Output: DIR/<SRC>.send, one line per packet sent: "seq t_before_ns t_after_ns"
// (CLOCK_MONOTONIC around sendto(); on veth the XDP program runs in between,
// see lab.sh). A sendto() that fails is not recorded and is counted in the summary.
// Payload: struct Probe (tests/tools/probe.hpp). With --stats, FILE is replaced
// (rename) every --stats-ms, and at the end, with "t NOW_NS" then "SRC sent"
// lines: live counts for the demo.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "probe.hpp"

namespace {

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

struct Flow {
    std::string src;
    uint64_t pps = 0;
    uint64_t count = 0;
    uint64_t start_ms = 0;
    uint64_t sent = 0;       // packets attempted
    int source = -1;         // index into sources
};

struct Record {
    uint64_t seq, t0, t1;
};

struct Source {
    std::string addr;
    int fd = -1;
    uint32_t src_be = 0;
    uint64_t next_seq = 0;
    uint64_t errors = 0;
    std::vector<Record> recs;
};

uint64_t nowNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sleepUntil(uint64_t t_ns) {
    constexpr uint64_t kSpinNs = 150000;  // busy-wait the last 150 us
    uint64_t now = nowNs();
    if (t_ns > now + kSpinNs) {
        uint64_t wake = t_ns - kSpinNs;
        timespec ts{(time_t)(wake / 1000000000ull), (long)(wake % 1000000000ull)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR && !g_stop) {
        }
    }
    while (nowNs() < t_ns && !g_stop) {
    }
}

[[noreturn]] void usage(const char* msg) {
    fprintf(stderr, "rl_sender: %s\nusage: rl_sender --dst IP --port N --out DIR [--size BYTES] "
                    "[--max-seconds S] --flow SRC:PPS:COUNT[:START_MS] ...\n", msg);
    exit(2);
}

uint64_t num(const std::string& s, const char* what) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = strtoull(s.c_str(), &end, 10);
    if (errno || end == s.c_str() || *end) usage((std::string("bad number for ") + what + ": " + s).c_str());
    return v;
}

Flow parseFlow(const std::string& spec) {
    std::vector<std::string> parts;
    size_t pos = 0;
    for (;;) {
        size_t c = spec.find(':', pos);
        parts.push_back(spec.substr(pos, c == std::string::npos ? c : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
    }
    if (parts.size() < 3 || parts.size() > 4) usage(("bad --flow " + spec).c_str());
    Flow f;
    f.src = parts[0];
    f.pps = num(parts[1], "PPS");
    f.count = num(parts[2], "COUNT");
    if (parts.size() == 4) f.start_ms = num(parts[3], "START_MS");
    if (f.pps == 0 || f.pps > 10000000) usage("PPS must be 1..10000000");
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dst, out;
    uint16_t port = 0;
    size_t size = sizeof(ratelimit::lab::Probe);
    uint64_t max_seconds = 60, stats_ms = 500;
    std::string stats;
    std::vector<Flow> flows;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--dst") dst = val();
        else if (a == "--port") port = (uint16_t)num(val(), "--port");
        else if (a == "--out") out = val();
        else if (a == "--size") size = num(val(), "--size");
        else if (a == "--max-seconds") max_seconds = num(val(), "--max-seconds");
        else if (a == "--flow") flows.push_back(parseFlow(val()));
        else if (a == "--stats") stats = val();
        else if (a == "--stats-ms") stats_ms = num(val(), "--stats-ms");
        else usage(("unknown argument " + a).c_str());
    }
    if (dst.empty() || out.empty() || port == 0 || flows.empty()) usage("--dst, --port, --out and --flow are required");
    size = std::clamp(size, sizeof(ratelimit::lab::Probe), (size_t)1400);

    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    if (inet_pton(AF_INET, dst.c_str(), &to.sin_addr) != 1) usage("bad --dst");

    std::vector<Source> sources;
    std::map<std::string, int> by_addr;
    for (auto& f : flows) {
        auto it = by_addr.find(f.src);
        if (it == by_addr.end()) {
            Source s;
            s.addr = f.src;
            sockaddr_in from{};
            from.sin_family = AF_INET;
            if (inet_pton(AF_INET, f.src.c_str(), &from.sin_addr) != 1) usage(("bad source " + f.src).c_str());
            s.src_be = from.sin_addr.s_addr;
            s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (s.fd < 0 || bind(s.fd, (sockaddr*)&from, sizeof(from)) != 0) {
                fprintf(stderr, "rl_sender: bind %s: %s\n", f.src.c_str(), strerror(errno));
                return 1;
            }
            int sndbuf = 4 << 20;
            setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
            it = by_addr.emplace(f.src, (int)sources.size()).first;
            sources.push_back(std::move(s));
        }
        f.source = it->second;
        sources[f.source].recs.reserve(sources[f.source].recs.size() + f.count);
    }
    signal(SIGINT, onSignal);
    signal(SIGTERM, onSignal);

    std::vector<char> buf(size, 0);
    const uint64_t t_start = nowNs() + 20000000;  // 20 ms to settle
    const uint64_t deadline = t_start + max_seconds * 1000000000ull;
    auto due = [&](const Flow& f) {
        return t_start + f.start_ms * 1000000ull + (uint64_t)((unsigned __int128)f.sent * 1000000000ull / f.pps);
    };
    bool truncated = false;
    uint64_t next_stats = 0;
    auto writeStats = [&]() {
        std::string tmp = stats + ".tmp";
        FILE* fp = fopen(tmp.c_str(), "w");
        if (!fp) return;
        fprintf(fp, "t %llu\n", (unsigned long long)nowNs());
        for (auto& s : sources) fprintf(fp, "%s %zu\n", s.addr.c_str(), s.recs.size());
        if (fclose(fp) == 0) rename(tmp.c_str(), stats.c_str());
    };
    for (;;) {
        if (!stats.empty() && nowNs() >= next_stats) {
            writeStats();
            next_stats = nowNs() + stats_ms * 1000000ull;
        }
        Flow* next = nullptr;
        uint64_t next_t = UINT64_MAX;
        for (auto& f : flows) {
            if (f.sent >= f.count) continue;
            uint64_t t = due(f);
            if (t < next_t) next_t = t, next = &f;
        }
        if (!next) break;
        if (next_t > deadline || g_stop) {
            truncated = true;
            break;
        }
        sleepUntil(next_t);
        if (g_stop) {
            truncated = true;
            break;
        }
        Source& s = sources[next->source];
        ratelimit::lab::Probe p{};
        p.magic = ratelimit::lab::kProbeMagic;
        p.src_be = s.src_be;
        p.seq = s.next_seq;
        uint64_t t0 = nowNs();
        p.send_ns = t0;
        memcpy(buf.data(), &p, sizeof(p));
        ssize_t n = sendto(s.fd, buf.data(), buf.size(), 0, (sockaddr*)&to, sizeof(to));
        uint64_t t1 = nowNs();
        next->sent++;
        if (n == (ssize_t)buf.size()) {
            s.recs.push_back({s.next_seq, t0, t1});
            s.next_seq++;
        } else {
            s.errors++;
        }
    }

    if (!stats.empty()) writeStats();
    int rc = 0;
    for (auto& s : sources) {
        std::string path = out + "/" + s.addr + ".send";
        FILE* fp = fopen(path.c_str(), "w");
        if (!fp) {
            fprintf(stderr, "rl_sender: %s: %s\n", path.c_str(), strerror(errno));
            return 1;
        }
        for (auto& r : s.recs) fprintf(fp, "%llu %llu %llu\n", (unsigned long long)r.seq,
                                       (unsigned long long)r.t0, (unsigned long long)r.t1);
        if (fclose(fp) != 0) rc = 1;
        uint64_t span = s.recs.size() > 1 ? s.recs.back().t0 - s.recs.front().t0 : 0;
        printf("rl_sender: %s sent %zu errors %llu span_ms %.3f\n", s.addr.c_str(), s.recs.size(),
               (unsigned long long)s.errors, span / 1e6);
        close(s.fd);
    }
    if (truncated) {
        printf("rl_sender: stopped before all flows finished (signal or --max-seconds)\n");
        rc = rc ? rc : 3;
    }
    return rc;
}
