#include "app/lockout.hpp"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ratelimit {
namespace {

constexpr unsigned kSshPort = 22;
constexpr const char* kTcpEstablished = "01";  // include/net/tcp_states.h: TCP_ESTABLISHED

std::string readAll(const char* path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

Cidr hostCidr(IpAddr a) {
    // ::ffff:a.b.c.d -> a.b.c.d (a dual-stack sshd reports IPv4 clients so)
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a.family == 6 && std::equal(kMapped, kMapped + 12, a.bytes.begin())) {
        IpAddr v4;
        v4.family = 4;
        std::copy(a.bytes.begin() + 12, a.bytes.end(), v4.bytes.begin());
        a = v4;
    }
    Cidr c;
    c.addr = a;
    c.prefix_len = a.family == 4 ? 32 : 128;
    return c;
}

// "0100007F:0016" (IPv4) or 32 hex digits (IPv6): /proc/net/tcp prints each
// 32-bit word of the address as the host-order integer it is in memory.
bool parseProcAddr(const std::string& field, IpAddr* a, unsigned* port) {
    auto colon = field.find(':');
    if (colon == std::string::npos) return false;
    std::string hex = field.substr(0, colon);
    if (hex.size() != 8 && hex.size() != 32) return false;
    a->family = hex.size() == 8 ? 4 : 6;
    for (size_t w = 0; w < hex.size() / 8; ++w) {
        char* end = nullptr;
        std::string word = hex.substr(w * 8, 8);
        uint32_t v = static_cast<uint32_t>(strtoul(word.c_str(), &end, 16));
        if (*end) return false;
        std::memcpy(a->bytes.data() + w * 4, &v, 4);  // back to memory (network) order
    }
    char* end = nullptr;
    *port = static_cast<unsigned>(strtoul(field.c_str() + colon + 1, &end, 16));
    return *end == '\0';
}

void fromProc(const std::string& text, std::vector<Cidr>& out) {
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string sl, local, remote, state;
        if (!(ls >> sl >> local >> remote >> state)) continue;
        IpAddr la, ra;
        unsigned lp = 0, rp = 0;
        if (state != kTcpEstablished || !parseProcAddr(local, &la, &lp) || !parseProcAddr(remote, &ra, &rp)) continue;
        if (lp == kSshPort) out.push_back(hostCidr(ra));
    }
}

bool sameCidr(const Cidr& a, const Cidr& b) {
    return a.prefix_len == b.prefix_len && a.addr.family == b.addr.family && a.addr.bytes == b.addr.bytes;
}

}  // namespace

std::vector<Cidr> sshClientsFrom(const std::string& ssh_connection, const std::string& proc_tcp,
                                 const std::string& proc_tcp6) {
    std::vector<Cidr> out;
    // SSH_CONNECTION="client_ip client_port server_ip server_port"
    std::istringstream sc(ssh_connection);
    std::string client;
    if (sc >> client)
        if (auto ip = parseIp(client)) out.push_back(hostCidr(*ip));
    fromProc(proc_tcp, out);
    fromProc(proc_tcp6, out);
    std::sort(out.begin(), out.end(), [](const Cidr& a, const Cidr& b) {
        return std::tie(a.addr.family, a.addr.bytes) < std::tie(b.addr.family, b.addr.bytes);
    });
    out.erase(std::unique(out.begin(), out.end(), sameCidr), out.end());
    return out;
}

std::vector<Cidr> detectSshClients() {
    const char* env = getenv("SSH_CONNECTION");
    return sshClientsFrom(env ? env : "", readAll("/proc/net/tcp"), readAll("/proc/net/tcp6"));
}

Status protectManagement(Config& cfg, const std::vector<Cidr>& ssh_clients, bool force,
                         std::vector<Cidr>* added, std::vector<Cidr>* unprotected) {
    added->clear();
    unprotected->clear();
    for (const auto& c : ssh_clients) {
        bool covered = std::any_of(cfg.management_allow.begin(), cfg.management_allow.end(), [&](const Cidr& m) {
            return m.addr.family == c.addr.family && cidrContains(m, c.addr);
        });
        if (covered) continue;
        if (cfg.protect_ssh) {
            cfg.management_allow.push_back(c);
            added->push_back(c);
        } else {
            unprotected->push_back(c);
        }
    }
    if (unprotected->empty() || force) return {};
    std::string list;
    for (const auto& c : *unprotected) list += (list.empty() ? "" : ", ") + formatIp(c.addr);
    return invalid("lockout", "refusing a configuration that leaves the SSH session(s) from " + list +
                                  " unprotected (management.protect_ssh: false and not in management.allow): "
                                  "it could lock the operator out; add the address to management.allow, or force "
                                  "it (ratelimitctl reload --force; ratelimitd --force-lockout)");
}

}  // namespace ratelimit
