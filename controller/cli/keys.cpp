// ratelimitctl keys show IP
#include <iostream>

#include "cli/common.hpp"
#include "cli/format.hpp"
#include "util/net.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

// The key an address falls into at a tier's prefix, e.g. 198.18.0.0/24.
std::string keyText(const std::string& ip, const json& k) {
    auto addr = parseIp(ip);
    if (!addr || !k.contains("prefix") || !k["prefix"].is_number_integer()) return ip;
    int prefix = k["prefix"].get<int>();
    if (prefix < 0 || prefix > (addr->family == 4 ? 32 : 128)) return ip;
    Cidr c{maskIp(*addr, static_cast<uint8_t>(prefix)), static_cast<uint8_t>(prefix)};
    return formatCidr(c);
}

std::string stateText(const json& state) {
    if (!state.is_object()) return scalar(state);
    std::string s;
    for (const auto& [k, v] : state.items()) {
        if (!s.empty()) s += " ";
        s += k + "=" + (v.is_number_float() ? fmtPerSec(v.get<double>()) : scalar(v));
    }
    return s.empty() ? "-" : s;
}

void printKeys(const std::string& ip, const json& r) {
    const json keys = r.value("keys", json::array());
    if (keys.empty()) {
        std::cout << "no state for " << ip
                  << " (no packet seen from it yet, or its rule does not meter)\n";
        return;
    }
    Table t({"RULE", "TIER>", "KEY", "ALGO", "LAST SEEN>", "BLOCKED FOR>", "STATE"});
    for (const auto& k : keys) {
        double seen = num(k, "last_seen_ago_s", -1);
        double blocked = num(k, "blocked_until_in_s", 0);
        t.add({str(k, "rule"), str(k, "tier"), keyText(ip, k),
               k.contains("algo") ? algoName(k["algo"]) : "-",
               seen >= 0 ? fmtDuration(seen) + " ago" : "-",
               blocked > 0 ? fmtDuration(blocked) : "-", stateText(k.value("state", json()))});
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
