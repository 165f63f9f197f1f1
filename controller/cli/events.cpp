// ratelimitctl events: one line per limit/block start and end, live.
#include <time.h>

#include <cctype>
#include <cstdio>
#include <iostream>

#include "cli/common.hpp"
#include "cli/format.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

// Event times are CLOCK_MONOTONIC ns (bpf_ktime_get_ns); shown as wall time.
std::string wallTime(double monoNs) {
    timespec mono{}, real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    double offsetNs = (real.tv_sec - mono.tv_sec) * 1e9 + (real.tv_nsec - mono.tv_nsec);
    double wallNs = monoNs + offsetNs;
    auto secs = static_cast<time_t>(wallNs / 1e9);
    auto ms = static_cast<int>((wallNs - static_cast<double>(secs) * 1e9) / 1e6);
    tm local{};
    localtime_r(&secs, &local);
    char b[48];
    std::strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", &local);
    char out[64];
    std::snprintf(out, sizeof(out), "%s.%03d", b, ms < 0 ? 0 : ms % 1000);
    return out;
}

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

void printEvent(const json& e) {
    std::string addr = str(e, "addr");
    if (e.contains("prefix") && addr.find('/') == std::string::npos) addr += "/" + str(e, "prefix");
    std::string line = (e.contains("ts_ns") ? wallTime(num(e, "ts_ns")) : "-") + "  " +
                       upper(eventTypeName(e.value("type", json()))) + "  " + addr + "  rule " +
                       str(e, "rule") + " tier " + str(e, "tier") + "  reason " +
                       (e.contains("reason") ? reasonName(e["reason"]) : "-");
    double until = num(e, "until_ns"), ts = num(e, "ts_ns");
    if (until > 0 && until > ts) line += "  blocked for " + fmtDuration((until - ts) / 1e9);
    std::cout << line << '\n';
}

}  // namespace

void addEventsCommand(CLI::App& app, const Globals& g, Action& action) {
    auto* events = app.add_subcommand(
        "events", "stream limit/block start and end events, one per line (Ctrl-C quits)");
    events->callback([&g, &action] {
        action = [&g] { return stream(g, "events.subscribe", json::object(), printEvent); };
    });
}

}  // namespace ratelimit::cli
