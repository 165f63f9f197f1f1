// rl_receiver: UDP sink for the lab; records which sequence numbers of which
// source arrived.
//
//   rl_receiver --port 9000 --out DIR [--max-seconds 120] [--stats FILE --stats-ms 500]
//
// Runs until SIGINT/SIGTERM or --max-seconds. Writes on exit:
//   DIR/<SRC>.recv     one arrived sequence number per line, in arrival order
//   DIR/receiver.summary  "SRC received duplicates" per source, then "socket_drops N"
// DIR/receiver.ready is created once the socket is bound. With --stats, FILE is
// replaced (rename) every --stats-ms and at exit with "t CUT_NS" then
// "SRC received" lines: live counts for the demo, of packets sent before
// CUT_NS = now - 100 ms (at exit: all of them). socket_drops (SO_RXQ_OVFL) must be 0 for a test to trust "did not
// arrive" as "dropped by XDP".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "probe.hpp"

namespace {

volatile sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

uint64_t nowNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

[[noreturn]] void usage(const char* msg) {
    fprintf(stderr, "rl_receiver: %s\nusage: rl_receiver --port N --out DIR [--max-seconds S] "
                    "[--stats FILE] [--stats-ms MS]\n", msg);
    exit(2);
}

// Live counts are of packets SENT before a cut-off 100 ms in the past (by the
// send time in the payload): by then each has arrived or been dropped, so
// "sent before the cut-off" minus this count is exactly what XDP dropped.
constexpr uint64_t kSettleNs = 100000000;

struct PerSource {
    std::deque<uint64_t> pending;   // send_ns of arrived packets newer than the cut-off
    uint64_t settled = 0;           // arrived packets sent before the cut-off
    std::vector<uint64_t> seqs;
    std::vector<bool> seen;
    uint64_t duplicates = 0;
};

bool writeFile(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    FILE* fp = fopen(tmp.c_str(), "w");
    if (!fp) return false;
    bool ok = fwrite(text.data(), 1, text.size(), fp) == text.size();
    ok = (fclose(fp) == 0) && ok;
    return ok && rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string out, stats;
    uint16_t port = 0;
    uint64_t max_seconds = 120, stats_ms = 500;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--port") port = (uint16_t)atoi(val().c_str());
        else if (a == "--out") out = val();
        else if (a == "--max-seconds") max_seconds = strtoull(val().c_str(), nullptr, 10);
        else if (a == "--stats") stats = val();
        else if (a == "--stats-ms") stats_ms = strtoull(val().c_str(), nullptr, 10);
        else usage(("unknown argument " + a).c_str());
    }
    if (out.empty() || port == 0) usage("--port and --out are required");

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return perror("socket"), 1;
    int one = 1, rcvbuf = 32 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    timeval tv{0, 100000};  // wake every 100 ms to check signals, deadline, stats
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (bind(fd, (sockaddr*)&addr, sizeof(addr)) != 0) return perror("bind"), 1;
    signal(SIGINT, onSignal);
    signal(SIGTERM, onSignal);
    if (!writeFile(out + "/receiver.ready", "ready\n")) return perror("ready file"), 1;

    constexpr int kBatch = 64;
    std::vector<char> bufs(kBatch * 2048);
    std::vector<char> ctrl(kBatch * CMSG_SPACE(sizeof(uint32_t)));
    mmsghdr msgs[kBatch];
    iovec iovs[kBatch];
    sockaddr_in froms[kBatch];
    std::map<uint32_t, PerSource> per;  // key: source address, network order
    uint64_t foreign = 0;
    uint32_t socket_drops = 0;
    const uint64_t deadline = nowNs() + max_seconds * 1000000000ull;
    uint64_t next_stats = 0;

    while (!g_stop && nowNs() < deadline) {
        for (int i = 0; i < kBatch; i++) {
            iovs[i] = {bufs.data() + i * 2048, 2048};
            msgs[i].msg_hdr = {};
            msgs[i].msg_hdr.msg_name = &froms[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(froms[i]);
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = ctrl.data() + i * CMSG_SPACE(sizeof(uint32_t));
            msgs[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint32_t));
        }
        int n = recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, nullptr);
        for (int i = 0; i < n; i++) {
            for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
                    memcpy(&socket_drops, CMSG_DATA(c), sizeof(socket_drops));
            ratelimit::lab::Probe p;
            if (msgs[i].msg_len < sizeof(p)) { foreign++; continue; }
            memcpy(&p, iovs[i].iov_base, sizeof(p));
            if (p.magic != ratelimit::lab::kProbeMagic || p.src_be != froms[i].sin_addr.s_addr ||
                p.seq > 100000000) { foreign++; continue; }
            PerSource& s = per[p.src_be];
            if (s.seen.size() <= p.seq) s.seen.resize(p.seq + 1 + 4096, false);
            if (s.seen[p.seq]) { s.duplicates++; continue; }
            s.seen[p.seq] = true;
            s.seqs.push_back(p.seq);
            if (!stats.empty()) s.pending.push_back(p.send_ns);
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return perror("recvmmsg"), 1;
        if (!stats.empty() && (nowNs() >= next_stats || g_stop || nowNs() >= deadline)) {
            char line[96];
            bool last = g_stop || nowNs() >= deadline;
            uint64_t cut = last ? UINT64_MAX : nowNs() - kSettleNs;
            snprintf(line, sizeof(line), "t %llu\n", (unsigned long long)(last ? nowNs() : cut));
            std::string text = line;
            for (auto& [src, s] : per) {
                char a[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &src, a, sizeof(a));
                // arrival order is send order per source (one sending thread)
                while (!s.pending.empty() && s.pending.front() < cut) {
                    s.pending.pop_front();
                    s.settled++;
                }
                snprintf(line, sizeof(line), "%s %llu\n", a, (unsigned long long)s.settled);
                text += line;
            }
            writeFile(stats, text);
            next_stats = nowNs() + stats_ms * 1000000ull;
        }
    }

    std::string summary;
    char line[128];
    for (auto& [src, s] : per) {
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &src, a, sizeof(a));
        std::string body;
        body.reserve(s.seqs.size() * 7);
        for (uint64_t q : s.seqs) body += std::to_string(q) + "\n";
        if (!writeFile(out + "/" + a + ".recv", body)) return perror("recv file"), 1;
        snprintf(line, sizeof(line), "%s %zu %llu\n", a, s.seqs.size(), (unsigned long long)s.duplicates);
        summary += line;
    }
    snprintf(line, sizeof(line), "socket_drops %u\nforeign %llu\n", socket_drops, (unsigned long long)foreign);
    summary += line;
    if (!writeFile(out + "/receiver.summary", summary)) return perror("summary"), 1;
    fputs(summary.c_str(), stdout);
    return 0;
}
