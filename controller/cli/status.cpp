// ratelimitctl status
#include <iostream>

#include "cli/common.hpp"
#include "cli/format.hpp"
#include "ratelimit/abi.h"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

// Counter objects keyed by reason name, printed in abi.h order, zero rows left out.
void printReasonTable(const json& counters, const std::string& indent) {
    static constexpr const char* kOrder[] = RL_REASON_NAMES;
    Table t({"REASON", "PACKETS>", "BYTES>"});
    auto addRow = [&](const std::string& name, const json& c) {
        if (num(c, "packets") == 0 && num(c, "bytes") == 0) return;
        t.add({name, fmtCount(num(c, "packets")), fmtBytes(num(c, "bytes"))});
    };
    for (const char* name : kOrder)
        if (counters.contains(name)) addRow(name, counters[name]);
    for (const auto& [name, c] : counters.items()) {
        bool known = false;
        for (const char* k : kOrder) known = known || name == k;
        if (!known) addRow(name, c);
    }
    if (t.empty())
        std::cout << indent << "(no packets counted yet)\n";
    else
        t.print(std::cout, indent);
}

void printStatus(const json& r) {
    std::cout << "ratelimitd " << str(r, "version") << "  ABI " << str(r, "abi_version")
              << "  pid " << str(r, "pid") << "  up " << fmtDuration(num(r, "uptime_s", -1))
              << "  generation " << str(r, "generation") << '\n';
    std::cout << "config:     " << str(r, "config_path", "(built-in defaults)");
    if (r.contains("rules")) std::cout << ", " << str(r, "rules") << " rules incl. default";
    std::cout << '\n';
    if (r.contains("reloads") && r["reloads"].is_object()) {
        const json& rl = r["reloads"];
        std::cout << "reloads:    " << str(rl, "ok", "0") << " ok, " << str(rl, "failed", "0") << " failed";
        if (rl.contains("last_error") && rl["last_error"].is_string() &&
            !rl["last_error"].get<std::string>().empty())
            std::cout << " (last error: " << rl["last_error"].get<std::string>() << ")";
        std::cout << '\n';
    }
    if (r.contains("pin_path")) std::cout << "pinned in:  " << str(r, "pin_path") << '\n';
    if (r.contains("multiprog"))
        std::cout << "multiprog:  "
                  << (num(r, "multiprog") != 0 ? "yes (libxdp dispatcher)"
                                               : "no (single-program attach)")
                  << '\n';
    if (r.contains("keys")) {
        const json& k = r["keys"];
        auto fam = [&](const char* used, const char* cap) {
            return fmtCount(num(k, used)) + " of " + fmtCount(num(k, cap)) + " (" +
                   fmtPercent(num(k, used), num(k, cap)) + ")";
        };
        std::cout << "keys:       IPv4 " << fam("v4", "capacity_v4") << ", IPv6 "
                  << fam("v6", "capacity_v6") << '\n';
        if (k.contains("blocked_v4") || k.contains("blocked_v6"))
            std::cout << "blocked:    IPv4 " << fmtCount(num(k, "blocked_v4")) << ", IPv6 "
                      << fmtCount(num(k, "blocked_v6")) << " keys in the penalty box\n";
    }
    std::cout << "\ninterfaces:\n";
    const json ifs = r.value("interfaces", json::array());
    if (ifs.empty()) {
        std::cout << "  (none attached; see: ratelimitctl attach IFACE)\n";
    } else {
        Table t({"NAME", "IFINDEX>", "MODE", "PROG>", "ATTACHED"});
        for (const auto& i : ifs)
            t.add({str(i, "name"), str(i, "ifindex"), str(i, "mode"), str(i, "prog_id"),
                   str(i, "attached")});
        t.print(std::cout, "  ");
    }
    std::cout << "\ncounters (all rules):\n";
    printReasonTable(r.value("counters", json::object()), "  ");
}

}  // namespace

void printReasonCounters(const json& counters, const std::string& indent) {
    printReasonTable(counters, indent);
}

void addStatusCommand(CLI::App& app, const Globals& g, Action& action) {
    auto* cmd = app.add_subcommand("status", "daemon version, interfaces, key usage, counters");
    cmd->callback([&g, &action] {
        action = [&g] { return request(g, "status", json::object(), printStatus); };
    });
}

}  // namespace ratelimit::cli
