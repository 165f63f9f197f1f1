#include "util/caps.hpp"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>

namespace ratelimit {
namespace {

const char* const kCapNames[] = {
    "cap_chown",          "cap_dac_override",   "cap_dac_read_search", "cap_fowner",        "cap_fsetid",
    "cap_kill",           "cap_setgid",         "cap_setuid",          "cap_setpcap",       "cap_linux_immutable",
    "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin",      "cap_net_raw",       "cap_ipc_lock",
    "cap_ipc_owner",      "cap_sys_module",     "cap_sys_rawio",       "cap_sys_chroot",    "cap_sys_ptrace",
    "cap_sys_pacct",      "cap_sys_admin",      "cap_sys_boot",        "cap_sys_nice",      "cap_sys_resource",
    "cap_sys_time",       "cap_sys_tty_config", "cap_mknod",           "cap_lease",         "cap_audit_write",
    "cap_audit_control",  "cap_setfcap",        "cap_mac_override",    "cap_mac_admin",     "cap_syslog",
    "cap_wake_alarm",     "cap_block_suspend",  "cap_audit_read",      "cap_perfmon",       "cap_bpf",
    "cap_checkpoint_restore"};
constexpr int kKnownCaps = sizeof(kCapNames) / sizeof(kCapNames[0]);

int lastCap() {
    std::ifstream f("/proc/sys/kernel/cap_last_cap");
    int n = 0;
    if (f >> n && n > 0 && n < 64) return n;
    return kKnownCaps - 1;
}

}  // namespace

Status dropCapabilitiesExcept(const std::vector<int>& keep) {
    auto kept = [&](int c) { return std::find(keep.begin(), keep.end(), c) != keep.end(); };
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (syscall(SYS_capget, &hdr, data) != 0) return sysError("capget");

    // The bounding set first: dropping from it needs CAP_SETPCAP, which the
    // capset below removes. EPERM: not ours to change (the supervisor's choice).
    int last = lastCap();
    for (int c = 0; c <= last; ++c)
        if (!kept(c) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 &&
            errno != EPERM && errno != EINVAL)
            return sysError("prctl PR_CAPBSET_DROP", c < kKnownCaps ? kCapNames[c] : std::to_string(c));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return sysError("prctl PR_CAP_AMBIENT_CLEAR_ALL");

    uint32_t mask[_LINUX_CAPABILITY_U32S_3] = {};
    for (int c : keep)
        if (c >= 0 && c < 32 * _LINUX_CAPABILITY_U32S_3) mask[c / 32] |= 1u << (c % 32);
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
        data[i].permitted &= mask[i];
        data[i].effective = data[i].permitted;
        data[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &hdr, data) != 0) return sysError("capset");
    return {};
}

std::string capabilityNames(const std::string& set) {
    std::ifstream f("/proc/self/status");
    std::string line;
    uint64_t bits = 0;
    while (std::getline(f, line))
        if (line.rfind(set + ":", 0) == 0) bits = std::stoull(line.substr(set.size() + 1), nullptr, 16);
    std::string out;
    for (int c = 0; c < 64; ++c) {
        if (!(bits >> c & 1)) continue;
        if (!out.empty()) out += ',';
        out += c < kKnownCaps ? kCapNames[c] : "cap_" + std::to_string(c);
    }
    return out.empty() ? "none" : out;
}

}  // namespace ratelimit
