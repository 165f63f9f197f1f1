// ratelimitctl rules list | add | delete
#include <iostream>

#include "cli/common.hpp"
#include "cli/format.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

struct AddOptions {
    std::string name;
    std::vector<std::string> sources;
    std::string protocol;
    std::vector<std::string> ports;
    std::string action;
    std::string onExceed;
    std::string algorithm;
    std::string rate;
    uint64_t burst = 0;              // 0: not given
    std::string bytesRate;
    uint64_t limit = 0;              // 0: not given
    std::string window;
    std::string blockFor;
    int ipv4Prefix = -1;
    int ipv6Prefix = -1;
};

std::string protoText(const json& p) {
    if (p.is_number_integer()) {
        switch (p.get<int>()) {
        case 1: return "icmp";
        case 6: return "tcp";
        case 17: return "udp";
        case 58: return "icmpv6";
        default: return std::to_string(p.get<int>());
        }
    }
    return scalar(p);
}

std::string limitsText(const json& rule) {
    std::string s;
    for (const auto& t : rule.value("tiers", json::array())) {
        if (!s.empty()) s += "; ";
        s += describeMeter(t);
    }
    if (rule.contains("global") && !rule["global"].is_null() &&
        !(rule["global"].is_object() && rule["global"].empty()))
        s += (s.empty() ? "" : "; ") + std::string("global ") + describeMeter(rule["global"]);
    return s.empty() ? "-" : s;
}

std::string onExceedText(const json& rule) {
    std::string action = str(rule, "action", "limit");
    if (action != "limit" && action != "1") return "-";
    std::string e = str(rule, "on_exceed", "drop");
    if (double ns = num(rule, "block_ns"); ns > 0 && e == "block") e += " " + fmtDuration(ns / 1e9);
    return e;
}

void printRules(const json& r) {
    const json rules = r.value("rules", json::array());
    if (rules.empty()) {
        std::cout << "no rules\n";
        return;
    }
    Table t({"ID>", "NAME", "ORIGIN", "ACTION", "SOURCES", "PROTO", "PORTS", "ON-EXCEED", "LIMITS"});
    for (const auto& rule : rules)
        t.add({str(rule, "id"), str(rule, "name"), str(rule, "origin"), str(rule, "action"),
               joinList(rule.value("sources", json::array())),
               rule.contains("proto") && !rule["proto"].is_null() ? protoText(rule["proto"]) : "any",
               joinList(rule.value("ports", json::array())), onExceedText(rule),
               limitsText(rule)});
    t.print(std::cout);
}

// A port option "80" or "8000-8080" as the rule schema writes it.
json portJson(const std::string& p) {
    if (p.find('-') == std::string::npos) return std::stoi(p);
    return p;
}

// The rule object in the YAML rule schema (docs/config.md); the daemon's
// parser validates it again and reports errors by field.
json buildRule(const AddOptions& o) {
    json rule = {{"name", o.name}, {"sources", o.sources}};
    if (!o.protocol.empty()) rule["protocol"] = o.protocol;
    if (!o.ports.empty()) {
        json ports = json::array();
        for (const auto& p : o.ports) ports.push_back(portJson(p));
        rule["ports"] = ports;
    }
    if (!o.action.empty()) rule["action"] = o.action;
    if (!o.onExceed.empty()) rule["on_exceed"] = o.onExceed;
    if (!o.blockFor.empty()) rule["block_for"] = o.blockFor;
    if (!o.algorithm.empty()) rule["algorithm"] = o.algorithm;
    if (!o.rate.empty()) rule["rate"] = o.rate;
    if (o.burst != 0) rule["burst"] = o.burst;
    if (!o.bytesRate.empty()) rule["bytes_rate"] = o.bytesRate;
    if (o.limit != 0) rule["limit"] = o.limit;
    if (!o.window.empty()) rule["window"] = o.window;
    json key = json::object();
    if (o.ipv4Prefix >= 0) key["ipv4_prefix"] = o.ipv4Prefix;
    if (o.ipv6Prefix >= 0) key["ipv6_prefix"] = o.ipv6Prefix;
    if (!key.empty()) rule["key"] = key;
    return rule;
}

// Combinations the options alone can refute; the daemon checks the rest.
std::string checkCombination(const AddOptions& o) {
    bool limit = o.action.empty() || o.action == "limit";
    bool windowAlgo = o.algorithm == "sliding_window" || o.algorithm == "fixed_window";
    if (!o.ports.empty() && o.protocol != "tcp" && o.protocol != "udp")
        return "--port needs --protocol tcp or udp";
    if (!limit && (!o.rate.empty() || !o.bytesRate.empty() || o.limit != 0 ||
                   !o.onExceed.empty() || !o.algorithm.empty()))
        return "--action " + o.action + " takes no limit options (--rate, --limit, --on-exceed, ...)";
    if (!o.blockFor.empty() && o.onExceed != "block") return "--block-for needs --on-exceed block";
    if (o.onExceed == "block" && o.blockFor.empty()) return "--on-exceed block needs --block-for";
    if (limit) {
        if (windowAlgo && (o.limit == 0 || o.window.empty()))
            return "--algorithm " + o.algorithm + " needs --limit N and --window DURATION";
        if (windowAlgo && (!o.rate.empty() || !o.bytesRate.empty()))
            return "--algorithm " + o.algorithm + " takes --limit/--window, not --rate/--bytes-rate";
        if (!windowAlgo && (o.limit != 0 || !o.window.empty()))
            return "--limit/--window need --algorithm sliding_window or fixed_window";
        if (!windowAlgo && o.rate.empty() && o.bytesRate.empty())
            return "a limit rule needs --rate (or --bytes-rate, or --limit with --window)";
        if (o.algorithm == "gcra" && !o.bytesRate.empty())
            return "--bytes-rate needs --algorithm token_bucket";
    }
    return {};
}

}  // namespace

void addRulesCommands(CLI::App& app, const Globals& g, Action& action) {
    auto* rules = app.add_subcommand("rules", "list, add and delete rules");
    rules->require_subcommand(1);

    auto* list = rules->add_subcommand("list", "rules in precedence order, with their limits");
    list->callback([&g, &action] {
        action = [&g] { return request(g, "rules.list", json::object(), printRules); };
    });

    auto opts = std::make_shared<AddOptions>();
    auto* add = rules->add_subcommand(
        "add", "add a runtime rule (lives until the next reload; the config file is the truth)");
    add->footer(
        "Examples:\n"
        "  ratelimitctl rules add ssh --source 0.0.0.0/0 --protocol tcp --port 22 \\\n"
        "      --rate 10/min --burst 5 --on-exceed block --block-for 10m\n"
        "  ratelimitctl rules add api --source 198.18.0.0/15 --rate 1000/s --ipv4-prefix 24\n"
        "  ratelimitctl rules add logins --source 198.18.0.0/15 --algorithm sliding_window \\\n"
        "      --limit 600 --window 1m\n"
        "  ratelimitctl rules add scanners --source 198.19.66.0/24 --action deny");
    add->add_option("name", opts->name, "rule name, [A-Za-z0-9_.-]{1,47}")->required();
    add->add_option("--source", opts->sources, "source CIDR (repeatable), e.g. 198.18.0.0/15")
        ->required()
        ->check(cidrValidator());
    add->add_option("--protocol", opts->protocol, "match only this protocol")
        ->check(CLI::IsMember({"tcp", "udp", "icmp", "icmpv6"}));
    add->add_option("--port", opts->ports, "destination port or range LO-HI (repeatable)")
        ->check(portRangeValidator());
    add->add_option("--action", opts->action, "limit (default), allow or deny")
        ->check(CLI::IsMember({"limit", "allow", "deny"}));
    add->add_option("--on-exceed", opts->onExceed, "drop (default), block or monitor")
        ->check(CLI::IsMember({"drop", "block", "monitor"}));
    add->add_option("--algorithm", opts->algorithm,
                    "token_bucket (default), gcra, sliding_window or fixed_window")
        ->check(CLI::IsMember({"token_bucket", "gcra", "sliding_window", "fixed_window"}));
    add->add_option("--rate", opts->rate, "packets per source key, e.g. 1000/s, 6000/min")
        ->check(packetRateValidator());
    add->add_option("--burst", opts->burst, "packets allowed back to back (default: 1 s of --rate)")
        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
    add->add_option("--bytes-rate", opts->bytesRate, "bytes per source key, e.g. 10MB/s, 100Mbit/s")
        ->check(byteRateValidator());
    add->add_option("--limit", opts->limit, "packets per --window (window algorithms)")
        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
    add->add_option("--window", opts->window, "window length, e.g. 1m")->check(durationValidator());
    add->add_option("--block-for", opts->blockFor, "penalty-box time with --on-exceed block, e.g. 30s")
        ->check(durationValidator());
    add->add_option("--ipv4-prefix", opts->ipv4Prefix, "key IPv4 sources by this prefix (default 32)")
        ->check(CLI::Range(0, 32));
    add->add_option("--ipv6-prefix", opts->ipv6Prefix, "key IPv6 sources by this prefix (default 64)")
        ->check(CLI::Range(0, 128));
    add->callback([&g, &action, opts] {
        if (auto why = checkCombination(*opts); !why.empty())
            throw CLI::ValidationError("rules add", why);
        action = [&g, opts] {
            return request(g, "rules.add", {{"rule", buildRule(*opts)}}, [&](const json& r) {
                std::cout << "added rule " << opts->name << " (id " << str(r, "id")
                          << ", generation " << str(r, "generation") << ")\n";
            });
        };
    });

    auto delName = std::make_shared<std::string>();
    auto* del = rules->add_subcommand("delete", "delete a runtime or config rule until the next reload");
    del->add_option("name", *delName, "rule name")->required();
    del->callback([&g, &action, delName] {
        action = [&g, delName] {
            return request(g, "rules.delete", {{"name", *delName}}, [&](const json& r) {
                std::cout << "deleted rule " << *delName << " (generation " << str(r, "generation")
                          << ")\n";
            });
        };
    });
}

}  // namespace ratelimit::cli
