#include "cli/format.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "ratelimit/abi.h"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

constexpr const char* kReasonNames[] = RL_REASON_NAMES;
static_assert(std::size(kReasonNames) == RL_REASON__MAX, "one name per rl_reason");
constexpr const char* kEventNames[] = {"?", "LIMIT_START", "LIMIT_END", "BLOCK_START", "BLOCK_END"};
static_assert(std::size(kEventNames) == RL_EV__MAX, "one name per rl_event_type");
constexpr const char* kAlgoNames[] = {"none", "token_bucket", "gcra", "sliding_window",
                                      "fixed_window"};
static_assert(std::size(kAlgoNames) == RL_ALGO__MAX, "one name per rl_algo");

std::string printf1(const char* fmt, double v, const char* suffix) {
    char b[64];
    std::snprintf(b, sizeof(b), fmt, v, suffix);
    return b;
}

// Three significant digits with a scaled suffix.
std::string scaled(double v, double base, const std::array<const char*, 6>& units,
                   const char* sep) {
    size_t i = 0;
    double a = std::fabs(v);
    while (a >= base * 0.9995 && i + 1 < units.size()) {
        a /= base;
        v /= base;
        ++i;
    }
    std::string unit = std::string(i == 0 && *sep == '\0' ? "" : sep) + units[i];
    if (i == 0) return printf1("%.0f%s", v, unit.c_str());
    if (a < 9.995) return printf1("%.2f%s", v, unit.c_str());
    if (a < 99.95) return printf1("%.1f%s", v, unit.c_str());
    return printf1("%.0f%s", v, unit.c_str());
}

std::string nameFrom(const json& v, const char* const* names, size_t n) {
    if (v.is_number_integer()) {
        auto i = v.get<int64_t>();
        if (i >= 0 && static_cast<size_t>(i) < n) return names[i];
        return std::to_string(i);
    }
    return scalar(v);
}

// A rate in JSON: "1000/s", a number (per second) or {count, period_ns}.
std::string rateText(const json& r) {
    if (r.is_string()) return r.get<std::string>();
    if (r.is_number()) return fmtPerSec(r.get<double>()) + "/s";
    if (r.is_object()) {
        auto count = static_cast<uint64_t>(num(r, "count"));
        auto period = static_cast<uint64_t>(num(r, "period_ns"));
        if (count == 0) return "-";
        return fmtRate(count, period);
    }
    return scalar(r);
}

const json* field(const json& j, std::initializer_list<const char*> keys) {
    for (const char* k : keys)
        if (j.contains(k) && !j[k].is_null()) return &j[k];
    return nullptr;
}

bool isZero(const json& v) {
    return (v.is_number() && v.get<double>() == 0) ||
           (v.is_object() && num(v, "count") == 0 && v.contains("count"));
}

}  // namespace

Table::Table(std::vector<std::string> headers) {
    for (auto& h : headers) {
        if (!h.empty() && h.back() == '>') {
            h.pop_back();
            align_.push_back(Align::Right);
        } else {
            align_.push_back(Align::Left);
        }
    }
    headers_ = std::move(headers);
}

void Table::add(std::vector<std::string> row) {
    row.resize(headers_.size());
    rows_.push_back(std::move(row));
}

void Table::print(std::ostream& out, const std::string& indent) const {
    std::vector<size_t> width(headers_.size());
    for (size_t c = 0; c < headers_.size(); ++c) {
        width[c] = headers_[c].size();
        for (const auto& r : rows_) width[c] = std::max(width[c], r[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string s = indent;
        for (size_t c = 0; c < cells.size(); ++c) {
            bool last = c + 1 == cells.size();
            std::string pad(width[c] - cells[c].size(), ' ');
            if (align_[c] == Align::Right)
                s += pad + cells[c];
            else
                s += cells[c] + (last ? "" : pad);
            if (!last) s += "  ";
        }
        while (!s.empty() && s.back() == ' ') s.pop_back();
        out << s << '\n';
    };
    line(headers_);
    for (const auto& r : rows_) line(r);
}

std::string fmtCount(double v) {
    if (std::fabs(v) < 10000) return printf1("%.0f%s", v, "");
    return scaled(v, 1000, {"", "k", "M", "G", "T", "P"}, "");
}

std::string fmtBytes(double bytes) {
    return scaled(bytes, 1024, {"B", "KiB", "MiB", "GiB", "TiB", "PiB"}, " ");
}

std::string fmtBitRate(double bytesPerSec) {
    return scaled(bytesPerSec * 8, 1000, {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", "Pbit/s"},
                  " ");
}

std::string fmtPerSec(double v) {
    if (v == 0) return "0";
    if (std::fabs(v) < 10) return printf1("%.1f%s", v, "");
    return fmtCount(v);
}

std::string fmtDuration(double s) {
    if (!(s >= 0)) return "-";
    char b[48];
    if (s < 1) {
        std::snprintf(b, sizeof(b), "%.0fms", s * 1000);
        return b;
    }
    auto t = static_cast<uint64_t>(std::llround(s));
    // Two units at most, the smaller left out when zero: 4m05s, 1m, 2h03m, 2h, 3d04h.
    struct Unit { uint64_t s; const char* name; };
    static constexpr Unit units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
    for (size_t i = 0; i < std::size(units); ++i) {
        if (t < units[i].s && i + 1 < std::size(units)) continue;
        uint64_t big = t / units[i].s;
        uint64_t rest = i + 1 < std::size(units) ? t % units[i].s / units[i + 1].s : 0;
        if (rest == 0)
            std::snprintf(b, sizeof(b), "%llu%s", static_cast<unsigned long long>(big), units[i].name);
        else
            std::snprintf(b, sizeof(b), "%llu%s%02llu%s", static_cast<unsigned long long>(big),
                          units[i].name, static_cast<unsigned long long>(rest), units[i + 1].name);
        break;
    }
    return b;
}

std::string fmtRate(uint64_t count, uint64_t periodNs) {
    struct Unit { uint64_t ns; const char* name; };
    static constexpr Unit units[] = {{1'000'000'000ull, "s"}, {60'000'000'000ull, "min"},
                                     {3'600'000'000'000ull, "h"}};
    for (const auto& u : units)
        if (periodNs == u.ns) return std::to_string(count) + "/" + u.name;
    if (periodNs == 0) return std::to_string(count);
    return std::to_string(count) + "/" + fmtDuration(static_cast<double>(periodNs) / 1e9);
}

std::string fmtPercent(double part, double whole) {
    if (whole <= 0) return "-";
    return printf1("%.1f%s", 100.0 * part / whole, "%");
}

double num(const json& j, const char* key, double fallback) {
    if (!j.is_object() || !j.contains(key)) return fallback;
    const auto& v = j[key];
    if (v.is_number()) return v.get<double>();
    if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
    return fallback;
}

std::string str(const json& j, const char* key, const std::string& fallback) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
    return scalar(j[key]);
}

std::string scalar(const json& v) {
    if (v.is_null()) return "-";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
    if (v.is_array()) return joinList(v);
    return v.dump();
}

std::string joinList(const json& j, const char* sep) {
    if (!j.is_array() || j.empty()) return j.is_array() || j.is_null() ? "-" : scalar(j);
    std::string s;
    for (const auto& e : j) {
        if (!s.empty()) s += sep;
        if (e.is_object() && e.contains("lo") && e.contains("hi")) {
            s += scalar(e["lo"]);
            if (e["lo"] != e["hi"]) s += "-" + scalar(e["hi"]);
        } else {
            s += scalar(e);
        }
    }
    return s;
}

std::string reasonName(const json& v) { return nameFrom(v, kReasonNames, std::size(kReasonNames)); }
std::string eventTypeName(const json& v) { return nameFrom(v, kEventNames, std::size(kEventNames)); }
std::string algoName(const json& v) { return nameFrom(v, kAlgoNames, std::size(kAlgoNames)); }

std::string describeMeter(const json& m) {
    if (m.is_string()) return m.get<std::string>();
    if (!m.is_object()) return scalar(m);
    std::string algo = "token_bucket";
    if (auto* a = field(m, {"algorithm", "algo"})) algo = algoName(*a);
    std::vector<std::string> parts;
    if (algo == "sliding_window" || algo == "fixed_window") {
        std::string limit = "?";
        if (auto* l = field(m, {"limit", "window_limit"})) limit = scalar(*l);
        std::string window = "?";
        if (auto* w = field(m, {"window"}))
            window = scalar(*w);
        else if (auto* wn = field(m, {"window_ns"}); wn && wn->is_number())
            window = fmtDuration(wn->get<double>() / 1e9);
        else if (auto* ws = field(m, {"window_s"}); ws && ws->is_number())
            window = fmtDuration(ws->get<double>());
        parts.push_back(algo + " " + limit + " per " + window);
    } else {
        std::string s = algo;
        if (auto* r = field(m, {"rate", "packets", "packet_rate"}); r && !isZero(*r)) {
            s += " " + rateText(*r);
            if (auto* b = field(m, {"burst", "burst_packets"}); b && !isZero(*b))
                s += " burst " + scalar(*b);
        }
        if (auto* bps = field(m, {"bytes_per_s"}); bps && bps->is_number() && !isZero(*bps)) {
            s += " " + fmtBytes(bps->get<double>()) + "/s";
            if (auto* b = field(m, {"burst_bytes"}); b && !isZero(*b))
                s += " burst " + fmtBytes(b->get<double>());
        } else if (auto* r = field(m, {"bytes_rate", "bytes", "byte_rate"}); r && !isZero(*r)) {
            s += " " + rateText(*r) + (r->is_string() ? "" : " B");
            if (auto* b = field(m, {"burst_bytes"}); b && !isZero(*b))
                s += " burst " + fmtBytes(b->get<double>());
        }
        parts.push_back(s);
    }
    std::string prefix;
    auto* p4 = field(m, {"ipv4_prefix", "prefix_v4"});
    auto* p6 = field(m, {"ipv6_prefix", "prefix_v6"});
    if (p4 && !(p4->is_number() && p4->get<int>() == 32)) prefix += "/" + scalar(*p4);
    if (p6 && !(p6->is_number() && p6->get<int>() == 64)) prefix += " v6 /" + scalar(*p6);
    std::string out = parts.front();
    if (!prefix.empty()) out += " per" + (prefix[0] == '/' ? " " + prefix : prefix);
    return out;
}

}  // namespace ratelimit::cli
