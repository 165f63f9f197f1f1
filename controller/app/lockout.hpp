// Lock-out safety: the client addresses of the operator's SSH sessions are
// added to the management allowlist (management.protect_ssh, default true),
// and a configuration that would leave a detected SSH client unprotected is
// refused unless forced (docs/config.md "Management allowlist").
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/result.hpp"

namespace ratelimit {

// Client addresses (/32 or /128) of SSH sessions into this host: the client of
// $SSH_CONNECTION (if set) and the remote end of every established TCP
// connection to local port 22 in /proc/net/tcp and /proc/net/tcp6 (of the
// daemon's network namespace). IPv4-mapped IPv6 addresses become IPv4.
// Sorted, without duplicates.
std::vector<Cidr> detectSshClients();

// The same from explicit inputs (tests): SSH_CONNECTION's value (may be empty)
// and the text of /proc/net/tcp and /proc/net/tcp6.
std::vector<Cidr> sshClientsFrom(const std::string& ssh_connection, const std::string& proc_tcp,
                                 const std::string& proc_tcp6);

// Applies lock-out protection to cfg for the given SSH clients:
//  - protect_ssh: appends every client not already inside management_allow;
//  - a client left outside management_allow (protect_ssh: false) is an error
//    naming it, unless force (then it is only returned in *unprotected).
// On success *added holds the addresses appended.
Status protectManagement(Config& cfg, const std::vector<Cidr>& ssh_clients, bool force,
                         std::vector<Cidr>* added, std::vector<Cidr>* unprotected);

}  // namespace ratelimit
