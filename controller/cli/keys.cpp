// ratelimitctl keys show IP
#include <iostream>

#include "cli/common.hpp"
#include "cli/format.hpp"
#include "util/net.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

// The key an address falls into at a tier's prefix, e.g. 198.18.0.0/24. The
// daemon sends it as text; a bare prefix length is applied here.
std::string keyText(const std::string& ip, const json& k) {
    if (!k.contains("prefix")) return ip;
    if (k["prefix"].is_string()) return k["prefix"].get<std::string>();
    auto addr = parseIp(ip);
    if (!addr || !k["prefix"].is_number_integer()) return ip;
    int prefix = k["prefix"].get<int>();
    if (prefix < 0 || prefix > (addr->family == 4 ? 32 : 128)) return ip;
    Cidr c{maskIp(*addr, static_cast<uint8_t>(prefix)), static_cast<uint8_t>(prefix)};
    return formatCidr(c);
}

// Meter state in operator terms: tokens left of the burst, or the window counts.
std::string stateText(const json& k) {
    const json state = k.value("state", json());
    if (!state.is_object()) return k.value("present", true) ? "-" : "no state (no packet seen)";
    std::vector<std::string> parts;
    if (state.contains("tokens_packets"))
        parts.push_back(fmtCount(num(state, "tokens_packets")) + "/" +
                        fmtCount(num(state, "capacity_packets")) + " packets left");
    if (state.contains("tokens_bytes"))
        parts.push_back(fmtBytes(num(state, "tokens_bytes")) + "/" +
                        fmtBytes(num(state, "capacity_bytes")) + " left");
    if (state.contains("current"))
        parts.push_back(fmtCount(num(state, "current")) + "/" + fmtCount(num(state, "limit")) +
                        " in window (previous " + fmtCount(num(state, "previous")) + ")");
    if (num(state, "limited") != 0) parts.push_back("LIMITED");
    if (num(state, "stale") != 0) parts.push_back("stale (resets on next packet)");
    if (parts.empty()) {
        for (const auto& [key, v] : state.items()) parts.push_back(key + "=" + scalar(v));
    }
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
}

void printKeys(const std::string& ip, const json& r) {
    if (r.contains("rules") && r["rules"].is_array() && !r["rules"].empty()) {
        std::string rules;
        for (const auto& m : r["rules"])
            rules += (rules.empty() ? "" : ", ") + str(m, "rule") + " (" + str(m, "action") + ")";
        std::cout << ip << " matches: " << rules << "\n\n";
    }
    const json keys = r.value("keys", json::array());
    if (keys.empty()) {
        std::cout << "no metered keys for " << ip << " (its rules do not limit)\n";
        return;
    }
    Table t({"RULE", "TIER>", "KEY", "ALGO", "LAST SEEN>", "BLOCKED FOR>", "STATE"});
    for (const auto& k : keys) {
        double seen = num(k, "last_seen_ago_s", -1);
        double blocked = num(k, "blocked_until_in_s", 0);
        t.add({str(k, "rule"), str(k, "tier"), keyText(ip, k),
               k.contains("algo") ? algoName(k["algo"]) : "-",
               seen >= 0 ? fmtDuration(seen) + " ago" : "never",
               blocked > 0 ? fmtDuration(blocked) : "-", stateText(k)});
    }
    t.print(std::cout);
}

}  // namespace

void addKeysCommands(CLI::App& app, const Globals& g, Action& action) {
    auto* keys = app.add_subcommand("keys", "per-source meter state");
    keys->require_subcommand(1);
    auto ip = std::make_shared<std::string>();
    auto* show = keys->add_subcommand("show", "the meter state of every rule tier keyed on IP");
    show->add_option("ip", *ip, "source address, IPv4 or IPv6")->required()->check(ipValidator());
    show->callback([&g, &action, ip] {
        action = [&g, ip] {
            return request(g, "keys.show", {{"ip", *ip}},
                           [&](const json& r) { printKeys(*ip, r); });
        };
    });
}

}  // namespace ratelimit::cli
