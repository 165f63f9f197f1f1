// SSH client detection and the lock-out guard (controller/app/lockout.hpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/lockout.hpp"

namespace ratelimit {
namespace {

const char* kTcpHeader =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
// One /proc/net/tcp{,6} line: ADDR:PORT fields as the kernel prints them.
std::string procLine(const std::string& local, const std::string& remote, const std::string& state) {
    return "   0: " + local + " " + remote + " " + state +
           " 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 20 4 29 10 -1\n";
}

std::vector<std::string> names(const std::vector<Cidr>& v) {
    std::vector<std::string> out;
    for (const auto& c : v) out.push_back(formatCidr(c));
    return out;
}

TEST(Lockout, DetectsSshClients) {
    struct Case {
        const char* what;
        std::string env, tcp, tcp6;
        std::vector<std::string> want;
    };
    std::string tcp = kTcpHeader;
    // 198.18.0.1 is c6 12 00 01 in memory, printed as the host-order u32 010012C6
    std::string sshIn = procLine("0200007F:0016", "010012C6:D431", "01");
    std::string listen = procLine("00000000:0016", "00000000:0000", "0A");
    std::string sshOut = procLine("0200007F:D431", "030012C6:0016", "01");   // we are the client
    std::string timeWait = procLine("0200007F:0016", "040012C6:D431", "06");
    std::string mapped = procLine("00000000000000000000FFFF0200007F:0016", "0000000000000000FFFF0000050012C6:D431", "01");
    std::string v6 = procLine("00000000000000000000000001000000:0016", "B80D0120000000000000000007000000:D431", "01");
    std::vector<Case> cases = {
        {"nothing", "", tcp, tcp, {}},
        {"SSH_CONNECTION v4", "198.18.9.9 50000 198.18.0.2 22", tcp, tcp, {"198.18.9.9/32"}},
        {"SSH_CONNECTION v6", "2001:db8::1 50000 2001:db8::2 22", "", "", {"2001:db8::1/128"}},
        {"SSH_CONNECTION mapped", "::ffff:198.18.9.8 1 ::1 22", "", "", {"198.18.9.8/32"}},
        {"garbage env", "nonsense", "", "", {}},
        {"established to :22 only", "", tcp + sshIn + listen + sshOut + timeWait, tcp, {"198.18.0.1/32"}},
        {"tcp6 mapped and v6", "", tcp, tcp + mapped + v6, {"198.18.0.5/32", "2001:db8::7/128"}},
        {"duplicates merged", "198.18.0.1 5 198.18.0.2 22", tcp + sshIn + sshIn, tcp, {"198.18.0.1/32"}},
    };
    for (const auto& c : cases) EXPECT_EQ(names(sshClientsFrom(c.env, c.tcp, c.tcp6)), c.want) << c.what;
}

TEST(Lockout, ProtectsOrRefuses) {
    auto cidr = [](const char* s) { return *parseCidr(s); };
    std::vector<Cidr> ssh = {cidr("198.18.0.1/32"), cidr("2001:db8::1/128")};
    struct Case {
        const char* what;
        bool protect, force;
        std::vector<Cidr> allow;
        bool ok;
        std::vector<std::string> added, unprotected;
    };
    std::vector<Case> cases = {
        {"protect adds both", true, false, {}, true, {"198.18.0.1/32", "2001:db8::1/128"}, {}},
        {"covered ones are not added", true, false, {cidr("198.18.0.0/24")}, true, {"2001:db8::1/128"}, {}},
        {"off and uncovered: refused", false, false, {cidr("198.18.0.0/24")}, false, {}, {"2001:db8::1/128"}},
        {"off, forced", false, true, {}, true, {}, {"198.18.0.1/32", "2001:db8::1/128"}},
        {"off but all covered", false, false, {cidr("198.18.0.0/15"), cidr("2001:db8::/32")}, true, {}, {}},
    };
    for (const auto& c : cases) {
        Config cfg;
        cfg.protect_ssh = c.protect;
        cfg.management_allow = c.allow;
        std::vector<Cidr> added, unprotected;
        auto s = protectManagement(cfg, ssh, c.force, &added, &unprotected);
        EXPECT_EQ(static_cast<bool>(s), c.ok) << c.what;
        if (!s) {
            EXPECT_NE(s.error().message().find("--force"), std::string::npos) << s.error().message();
        }
        EXPECT_EQ(names(added), c.added) << c.what;
        EXPECT_EQ(names(unprotected), c.unprotected) << c.what;
        EXPECT_EQ(cfg.management_allow.size(), c.allow.size() + c.added.size()) << c.what;
    }
    Config none;
    std::vector<Cidr> added, unprotected;
    EXPECT_TRUE(protectManagement(none, {}, false, &added, &unprotected)) << "no SSH session: nothing to do";
}

TEST(Lockout, ParsesProtectSsh) {
    auto on = parseConfigText("management: {allow: [10.0.0.0/8]}\n");
    ASSERT_TRUE(on.config);
    EXPECT_TRUE(on.config->protect_ssh);
    auto off = parseConfigText("management: {protect_ssh: false}\n");
    ASSERT_TRUE(off.config);
    EXPECT_FALSE(off.config->protect_ssh);
    auto bad = parseConfigText("management: {protect_ssh: maybe}\n");
    EXPECT_FALSE(bad.errors.empty());
}

}  // namespace
}  // namespace ratelimit
