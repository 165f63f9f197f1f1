// dropCapabilitiesExcept in a forked child (the test process keeps its own
// capabilities): the child keeps exactly the requested ones that it had.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/caps.hpp"

namespace ratelimit {
namespace {

// Runs fn in a child; returns its exit code (0 = all checks passed there).
template <typename F>
int inChild(F fn) {
    pid_t pid = fork();
    if (pid == 0) _exit(fn());
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

TEST(Caps, DropKeepsOnlyTheRequestedOnes) {
    std::string before = capabilityNames("CapEff");
    if (before.find("cap_bpf") == std::string::npos || before.find("cap_net_admin") == std::string::npos)
        GTEST_SKIP() << "needs CAP_BPF and CAP_NET_ADMIN to start with (have: " << before << ")";
    int rc = inChild([] {
        if (!dropCapabilitiesExcept({CAP_BPF, CAP_NET_ADMIN}).ok()) return 1;
        if (capabilityNames("CapEff") != "cap_net_admin,cap_bpf") return 2;
        if (capabilityNames("CapPrm") != "cap_net_admin,cap_bpf") return 3;
        if (capabilityNames("CapInh") != "none") return 4;
        if (capabilityNames("CapAmb") != "none") return 5;
        if (capabilityNames("CapBnd") != "cap_net_admin,cap_bpf") return 6;
        // and they are really gone: a second drop cannot bring one back
        if (!dropCapabilitiesExcept({CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN}).ok()) return 7;
        if (capabilityNames("CapEff") != "cap_net_admin,cap_bpf") return 8;
        return 0;
    });
    EXPECT_EQ(rc, 0) << "child check " << rc << " failed (see the numbered checks)";
    EXPECT_EQ(capabilityNames("CapEff"), before) << "the parent is untouched";
}

TEST(Caps, DropEverything) {
    int rc = inChild([] {
        if (!dropCapabilitiesExcept({}).ok()) return 1;
        return capabilityNames("CapEff") == "none" && capabilityNames("CapPrm") == "none" ? 0 : 2;
    });
    EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace ratelimit
