// ratelimitctl top: heaviest sources, live (top.subscribe) or one snapshot.
#include <ctime>
#include <iostream>

#include "cli/common.hpp"
#include "cli/format.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

struct TopOptions {
    bool once = false;
    unsigned n = 20;
    std::string sort = "drops";
    std::string interval = "1s";
};

std::string clockNow() {
    std::time_t t = std::time(nullptr);
    char b[16];
    std::strftime(b, sizeof(b), "%H:%M:%S", std::localtime(&t));
    return b;
}

void printTalkers(const json& r, const TopOptions& o) {
    const json talkers = r.value("talkers", json::array());
    std::cout << "top sources by " << o.sort << " at " << clockNow();
    if (r.contains("interval_s")) std::cout << ", rates over " << fmtDuration(num(r, "interval_s"));
    std::cout << " (sampled)\n\n";
    if (talkers.empty()) {
        std::cout << "no traffic sampled\n";
        return;
    }
    Table t({"ADDRESS", "RULE", "PPS>", "DROPS/S>", "DROP%>", "BANDWIDTH>"});
    for (const auto& x : talkers)
        t.add({str(x, "addr"), str(x, "rule"), fmtPerSec(num(x, "pps")),
               fmtPerSec(num(x, "drops_ps")), fmtPercent(num(x, "drops_ps"), num(x, "pps")),
               fmtBitRate(num(x, "bps"))});
    t.print(std::cout);
}

}  // namespace

void addTopCommand(CLI::App& app, const Globals& g, Action& action) {
    auto o = std::make_shared<TopOptions>();
    auto* top = app.add_subcommand("top", "heaviest sources, refreshed live (Ctrl-C quits)");
    top->add_flag("--once", o->once, "print one snapshot and exit");
    top->add_option("-n", o->n, "number of sources")->check(CLI::Range(1u, 1000u))->capture_default_str();
    top->add_option("--sort", o->sort, "order by drops, packets or bytes")
        ->check(CLI::IsMember({"drops", "packets", "bytes"}))
        ->capture_default_str();
    top->add_option("--interval", o->interval, "refresh interval, e.g. 1s, 500ms")
        ->check(durationValidator())
        ->capture_default_str();
    top->callback([&g, &action, o] {
        if (durationMs(o->interval) < 100)
            throw CLI::ValidationError("--interval", "'" + o->interval + "' is below 100ms");
        action = [&g, o] {
            json args = {{"n", o->n}, {"sort", o->sort}};
            if (o->once)
                return request(g, "top", args, [&](const json& r) { printTalkers(r, *o); });
            args["interval_ms"] = durationMs(o->interval);
            if (g.json) return stream(g, "top.subscribe", args, {});
            LiveScreen screen;
            return stream(g, "top.subscribe", args, [&](const json& r) {
                screen.beginFrame();
                printTalkers(r, *o);
                if (screen.active()) std::cout << "\nCtrl-C to quit\n";
                else std::cout << '\n';
            });
        };
    });
}

}  // namespace ratelimit::cli
