// Process capabilities: after start-up the daemon keeps only what it needs at
// run time (map updates, XDP attach/detach), so a compromise of the control
// socket parser or the event loop cannot load programs, mount, chown, ...
// Raw capget/capset/prctl: no library needed.
#pragma once

#include <string>
#include <vector>

#include "util/result.hpp"

namespace ratelimit {

// Drops every capability not in `keep` from the effective, permitted,
// inheritable and ambient sets, and from the bounding set when allowed
// (CAP_SETPCAP; without it the bounding set is left as the supervisor set it).
// Capabilities in `keep` that the process does not have stay absent.
Status dropCapabilitiesExcept(const std::vector<int>& keep);

// "cap_bpf,cap_net_admin" for the given set of /proc/self/status (e.g. "CapEff").
std::string capabilityNames(const std::string& set);

}  // namespace ratelimit
