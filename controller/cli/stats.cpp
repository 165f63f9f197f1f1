// ratelimitctl stats [--watch]: per-rule verdict counters and global counters.
#include <chrono>
#include <iostream>
#include <map>

#include "cli/common.hpp"
#include "cli/format.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

// Reasons grouped into the columns an operator reads first.
struct Columns {
    double pass = 0, allow = 0, drop = 0, shadow = 0, other = 0, bytes = 0;
};

Columns columnsOf(const json& reasons) {
    Columns c;
    for (const auto& [reason, v] : reasons.items()) {
        double p = num(v, "packets");
        c.bytes += num(v, "bytes");
        if (reason == "pass")
            c.pass += p;
        else if (reason == "allow")
            c.allow += p;
        else if (reason == "rate" || reason == "deny" || reason == "blocked" || reason == "global" ||
                 reason == "override_block")
            c.drop += p;
        else if (reason == "shadow_rate" || reason == "shadow_global")
            c.shadow += p;
        else
            c.other += p;
    }
    return c;
}

std::string ruleKey(const json& rule) { return str(rule, "id") + "/" + str(rule, "name"); }

void printGlobal(const json& global) {
    if (!global.is_object() || global.empty()) return;
    Table t({"COUNTER", "VALUE>"});
    for (const auto& [k, v] : global.items()) t.add({k, v.is_number() ? fmtCount(v.get<double>()) : scalar(v)});
    std::cout << '\n';
    t.print(std::cout);
}

void printTotals(const json& r) {
    Table t({"RULE", "PASS>", "ALLOW>", "DROP>", "SHADOW>", "OTHER>", "BYTES>"});
    for (const auto& rule : r.value("rules", json::array())) {
        Columns c = columnsOf(rule.value("reasons", json::object()));
        t.add({str(rule, "name"), fmtCount(c.pass), fmtCount(c.allow), fmtCount(c.drop),
               fmtCount(c.shadow), fmtCount(c.other), fmtBytes(c.bytes)});
    }
    if (t.empty())
        std::cout << "no rules\n";
    else
        t.print(std::cout);
    printGlobal(r.value("global", json::object()));
    std::cout << "\nDROP = rate + deny + blocked + global; SHADOW = would-drop in monitor mode;"
                 " OTHER = malformed, non-IP, state-full\n";
}

// Rates between two snapshots, computed here so that text output does not
// depend on the daemon's optional `rates` layout.
class RateView {
public:
    void show(const json& r) {
        auto now = std::chrono::steady_clock::now();
        double dt = std::chrono::duration<double>(now - last_).count();
        std::map<std::string, Columns> cur;
        Table t({"RULE", "PASS/S>", "DROP/S>", "SHADOW/S>", "BANDWIDTH>", "PASS>", "DROP>"});
        for (const auto& rule : r.value("rules", json::array())) {
            Columns c = columnsOf(rule.value("reasons", json::object()));
            cur[ruleKey(rule)] = c;
            Columns d;
            if (auto it = prev_.find(ruleKey(rule)); it != prev_.end() && dt > 0) {
                d.pass = (c.pass + c.allow - it->second.pass - it->second.allow) / dt;
                d.drop = (c.drop - it->second.drop) / dt;
                d.shadow = (c.shadow - it->second.shadow) / dt;
                d.bytes = (c.bytes - it->second.bytes) / dt;
            }
            bool first = prev_.empty();
            t.add({str(rule, "name"), first ? "-" : fmtPerSec(d.pass), first ? "-" : fmtPerSec(d.drop),
                   first ? "-" : fmtPerSec(d.shadow), first ? "-" : fmtBitRate(d.bytes),
                   fmtCount(c.pass + c.allow), fmtCount(c.drop)});
        }
        t.print(std::cout);
        prev_ = std::move(cur);
        last_ = now;
    }

private:
    std::map<std::string, Columns> prev_;
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

void addStatsCommand(CLI::App& app, const Globals& g, Action& action) {
    struct Options {
        bool watch = false;
        std::string interval = "1s";
    };
    auto o = std::make_shared<Options>();
    auto* stats = app.add_subcommand("stats", "packet and byte counters per rule and verdict");
    stats->add_flag("--watch", o->watch, "refresh live with rates (Ctrl-C quits)");
    stats->add_option("--interval", o->interval, "refresh interval with --watch")
        ->check(durationValidator())
        ->capture_default_str();
    stats->callback([&g, &action, o] {
        if (durationMs(o->interval) < 100)
            throw CLI::ValidationError("--interval", "'" + o->interval + "' is below 100ms");
        action = [&g, o] {
            if (!o->watch) return request(g, "stats", json::object(), printTotals);
            json args = {{"interval_ms", durationMs(o->interval)}};
            if (g.json) return stream(g, "stats.subscribe", args, {});
            LiveScreen screen;
            RateView view;
            return stream(g, "stats.subscribe", args, [&](const json& r) {
                screen.beginFrame();
                view.show(r);
                std::cout << (screen.active() ? "\nCtrl-C to quit\n" : "\n");
            });
        };
    });
}

}  // namespace ratelimit::cli
