// Human units for rates, sizes and durations. Every result is exact: a rate is
// kept as the rational count/period_ns the operator wrote ("6000/min" is
// {6000, 60e9}, never 100/s rounded), and decimals ("1.5k/s", "0.5s") are
// accepted only where they stay exact in integers.
#include <cctype>
#include <numeric>

#include "config/config.hpp"

namespace ratelimit {
namespace {

using u128 = unsigned __int128;
constexpr u128 kU64Max = UINT64_MAX;

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) b++;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) e--;
    return s.substr(b, e - b);
}

// A decimal number "12", "1.5": value = mantissa / 10^frac_digits.
struct Decimal {
    uint64_t mantissa = 0;
    unsigned frac_digits = 0;
};

// Parses the leading number of `s` from `pos`; advances pos. Empty -> false.
bool parseNumber(const std::string& s, size_t& pos, Decimal& out, std::string& why) {
    size_t start = pos;
    u128 m = 0;
    bool dot = false, digits = false;
    unsigned frac = 0;
    for (; pos < s.size(); pos++) {
        char c = s[pos];
        if (c == '.' && !dot) {
            dot = true;
            continue;
        }
        if (c < '0' || c > '9') break;
        digits = true;
        m = m * 10 + static_cast<unsigned>(c - '0');
        if (dot) frac++;
        if (m > kU64Max || frac > 18) {
            why = "number too large";
            return false;
        }
    }
    if (!digits) {
        why = pos == start ? "expected a number" : "'" + s.substr(start, pos - start) + "' is not a number";
        return false;
    }
    // drop trailing fractional zeros: "1.50" == "1.5"
    while (frac > 0 && m % 10 == 0) {
        m /= 10;
        frac--;
    }
    out.mantissa = static_cast<uint64_t>(m);
    out.frac_digits = frac;
    return true;
}

uint64_t pow10(unsigned n) {
    uint64_t v = 1;
    while (n--) v *= 10;
    return v;
}

void skipSpaces(const std::string& s, size_t& pos) {
    while (pos < s.size() && s[pos] == ' ') pos++;
}

// Time unit -> ns. Shared by durations and by the period of a rate.
bool timeUnitNs(const std::string& u, uint64_t& ns) {
    static const struct {
        const char* name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"µs", 1000},
        {"ms", 1000000},
        {"s", RL_NSEC_PER_SEC},
        {"sec", RL_NSEC_PER_SEC},
        {"second", RL_NSEC_PER_SEC},
        {"m", 60 * RL_NSEC_PER_SEC},
        {"min", 60 * RL_NSEC_PER_SEC},
        {"minute", 60 * RL_NSEC_PER_SEC},
        {"h", 3600 * RL_NSEC_PER_SEC},
        {"hr", 3600 * RL_NSEC_PER_SEC},
        {"hour", 3600 * RL_NSEC_PER_SEC},
        {"d", 86400 * RL_NSEC_PER_SEC},
        {"day", 86400 * RL_NSEC_PER_SEC},
    };
    for (const auto& e : units) {
        std::string n = e.name;
        if (u == n || (n.size() > 2 && u == n + "s")) {
            ns = e.ns;
            return true;
        }
    }
    return false;
}

// value * scale / divisor as an exact rational count/period: returns false on overflow.
// count = mantissa * mult, period = period_ns * 10^frac * div, reduced only by the
// factors the decimal point and bit units introduced, so "6000/min" stays {6000, 60e9}.
bool makeRate(const Decimal& d, uint64_t mult, uint64_t period_ns, uint64_t div, Rate& out) {
    u128 count = static_cast<u128>(d.mantissa) * mult;
    uint64_t extra = pow10(d.frac_digits) * div;
    if (count > kU64Max) return false;
    uint64_t g = std::gcd(static_cast<uint64_t>(count), extra);
    if (g > 1) {
        count /= g;
        extra /= g;
    }
    u128 period = static_cast<u128>(period_ns) * extra;
    if (count > kU64Max || period > kU64Max) return false;
    out.count = static_cast<uint64_t>(count);
    out.period_ns = static_cast<uint64_t>(period);
    return true;
}

// "/s", "/min", "/5s", "/100ms": the period after the slash, in ns.
bool parsePeriod(const std::string& s, size_t pos, uint64_t& period_ns, std::string& why) {
    skipSpaces(s, pos);
    uint64_t n = 1;
    if (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
        Decimal d;
        if (!parseNumber(s, pos, d, why)) return false;
        if (d.frac_digits) {
            why = "the period must be a whole number of units";
            return false;
        }
        n = d.mantissa;
        skipSpaces(s, pos);
    }
    std::string unit = s.substr(pos);
    uint64_t unit_ns = 0;
    if (unit.empty()) {
        why = "missing time unit after '/' (s, min, h, ...)";
        return false;
    }
    if (!timeUnitNs(unit, unit_ns)) {
        why = "unknown time unit '" + unit + "' (use ns, us, ms, s, min, h or d)";
        return false;
    }
    u128 p = static_cast<u128>(n) * unit_ns;
    if (n == 0 || p > kU64Max) {
        why = n == 0 ? "the period must not be zero" : "period too long";
        return false;
    }
    period_ns = static_cast<uint64_t>(p);
    return true;
}

Error unitError(const char* what, const std::string& text, const std::string& why, const char* example) {
    return invalid(what, "'" + text + "': " + why + " (e.g. " + example + ")");
}

// SI multiplier letter (k, M, G, T) at pos, if any.
uint64_t siMultiplier(const std::string& s, size_t& pos) {
    if (pos >= s.size()) return 1;
    switch (s[pos]) {
    case 'k':
    case 'K': pos++; return 1000;
    case 'M': pos++; return 1000000;
    case 'G': pos++; return 1000000000;
    case 'T': pos++; return 1000000000000;
    default: return 1;
    }
}

// Byte-size unit -> {multiplier, divisor} in bytes ("bit" units divide by 8).
bool byteUnit(const std::string& u, uint64_t& mult, uint64_t& div) {
    static const struct {
        const char* name;
        uint64_t mult, div;
    } units[] = {
        {"B", 1, 1},
        {"kB", 1000, 1},
        {"KB", 1000, 1},
        {"MB", 1000000, 1},
        {"GB", 1000000000, 1},
        {"TB", 1000000000000, 1},
        {"KiB", 1ull << 10, 1},
        {"MiB", 1ull << 20, 1},
        {"GiB", 1ull << 30, 1},
        {"TiB", 1ull << 40, 1},
        {"bit", 1, 8},
        {"kbit", 1000, 8},
        {"Kbit", 1000, 8},
        {"Mbit", 1000000, 8},
        {"Gbit", 1000000000, 8},
        {"Tbit", 1000000000000, 8},
    };
    for (const auto& e : units) {
        if (u == e.name) {
            mult = e.mult;
            div = e.div;
            return true;
        }
    }
    return false;
}

}  // namespace

Result<Rate> parsePacketRate(const std::string& raw) {
    const char* ex = "1000/s, 6000/min, 100k/s, 1000pps";
    std::string s = trim(raw);
    size_t pos = 0;
    Decimal d;
    std::string why;
    if (!parseNumber(s, pos, d, why)) return unitError("packet rate", raw, why, ex);
    skipSpaces(s, pos);
    uint64_t mult = siMultiplier(s, pos);
    Rate r;
    uint64_t period_ns = RL_NSEC_PER_SEC;
    std::string rest = s.substr(pos);
    if (rest == "pps") {
        // "1000pps", "100kpps"
    } else if (!rest.empty() && rest[0] == '/') {
        if (!parsePeriod(s, pos + 1, period_ns, why)) return unitError("packet rate", raw, why, ex);
    } else if (rest.empty()) {
        return unitError("packet rate", raw, "missing '/period' or 'pps'", ex);
    } else {
        return unitError("packet rate", raw, "unknown unit '" + rest + "'", ex);
    }
    if (!makeRate(d, mult, period_ns, 1, r)) return unitError("packet rate", raw, "rate too large", ex);
    if (r.count == 0) return unitError("packet rate", raw, "rate must be positive", ex);
    return r;
}

Result<Rate> parseByteRate(const std::string& raw) {
    const char* ex = "10MB/s, 10MiB/s, 100Mbit/s, 1Gbps";
    std::string s = trim(raw);
    size_t pos = 0;
    Decimal d;
    std::string why;
    if (!parseNumber(s, pos, d, why)) return unitError("byte rate", raw, why, ex);
    skipSpaces(s, pos);
    size_t slash = s.find('/', pos);
    std::string unit = s.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    while (!unit.empty() && unit.back() == ' ') unit.pop_back();
    uint64_t mult = 1, div = 1, period_ns = RL_NSEC_PER_SEC;
    if (slash == std::string::npos) {
        // "100Mbps" (bits, as network gear means it), "10MBps" (bytes)
        static const struct {
            const char* name;
            uint64_t mult, div;
        } per_sec[] = {{"bps", 1, 8},           {"kbps", 1000, 8},       {"Kbps", 1000, 8},
                       {"Mbps", 1000000, 8},    {"Gbps", 1000000000, 8}, {"Tbps", 1000000000000, 8},
                       {"Bps", 1, 1},           {"kBps", 1000, 1},       {"KBps", 1000, 1},
                       {"MBps", 1000000, 1},    {"GBps", 1000000000, 1}};
        bool found = false;
        for (const auto& e : per_sec) {
            if (unit == e.name) {
                mult = e.mult;
                div = e.div;
                found = true;
            }
        }
        if (!found)
            return unitError("byte rate", raw,
                             unit.empty() ? "missing unit" : "unknown unit '" + unit + "'", ex);
    } else {
        if (unit.empty()) return unitError("byte rate", raw, "missing size unit before '/' (B, MB, Mbit, ...)", ex);
        if (!byteUnit(unit, mult, div))
            return unitError("byte rate", raw,
                             "unknown size unit '" + unit + "' (B, kB, MB, GB, KiB, MiB, GiB, kbit, Mbit, Gbit)", ex);
        if (!parsePeriod(s, slash + 1, period_ns, why)) return unitError("byte rate", raw, why, ex);
    }
    Rate r;
    if (!makeRate(d, mult, period_ns, div, r)) return unitError("byte rate", raw, "rate too large", ex);
    if (r.count == 0) return unitError("byte rate", raw, "rate must be positive", ex);
    return r;
}

Result<uint64_t> parseByteSize(const std::string& raw) {
    const char* ex = "1500, 64KiB, 1MB";
    std::string s = trim(raw);
    size_t pos = 0;
    Decimal d;
    std::string why;
    if (!parseNumber(s, pos, d, why)) return unitError("size", raw, why, ex);
    skipSpaces(s, pos);
    std::string unit = s.substr(pos);
    uint64_t mult = 1, div = 1;
    if (!unit.empty() && !byteUnit(unit, mult, div))
        return unitError("size", raw, "unknown size unit '" + unit + "' (B, kB, MB, GB, KiB, MiB, GiB)", ex);
    if (div != 1) return unitError("size", raw, "sizes are in bytes, not bits", ex);
    u128 num = static_cast<u128>(d.mantissa) * mult;
    u128 den = pow10(d.frac_digits);
    if (num % den) return unitError("size", raw, "not a whole number of bytes", ex);
    num /= den;
    if (num > kU64Max) return unitError("size", raw, "too large", ex);
    return static_cast<uint64_t>(num);
}

Result<uint64_t> parseDurationNs(const std::string& raw) {
    const char* ex = "30s, 500ms, 2m, 1h";
    std::string s = trim(raw);
    size_t pos = 0;
    Decimal d;
    std::string why;
    if (!parseNumber(s, pos, d, why)) return unitError("duration", raw, why, ex);
    skipSpaces(s, pos);
    std::string unit = s.substr(pos);
    uint64_t unit_ns = 0;
    if (unit.empty()) return unitError("duration", raw, "missing unit", ex);
    if (!timeUnitNs(unit, unit_ns))
        return unitError("duration", raw, "unknown unit '" + unit + "' (use ns, us, ms, s, m, h or d)", ex);
    u128 num = static_cast<u128>(d.mantissa) * unit_ns;
    u128 den = pow10(d.frac_digits);
    if (num % den) return unitError("duration", raw, "not a whole number of nanoseconds", ex);
    num /= den;
    if (num > kU64Max) return unitError("duration", raw, "too long", ex);
    return static_cast<uint64_t>(num);
}

std::string formatDuration(uint64_t ns) {
    static const struct {
        const char* name;
        uint64_t ns;
    } units[] = {{"d", 86400 * RL_NSEC_PER_SEC}, {"h", 3600 * RL_NSEC_PER_SEC}, {"m", 60 * RL_NSEC_PER_SEC},
                 {"s", RL_NSEC_PER_SEC},         {"ms", 1000000},                  {"us", 1000}};
    if (ns == 0) return "0s";
    for (const auto& u : units)
        if (ns % u.ns == 0) return std::to_string(ns / u.ns) + u.name;
    return std::to_string(ns) + "ns";
}

namespace {

std::string formatPeriod(uint64_t period_ns) {
    switch (period_ns) {
    case RL_NSEC_PER_SEC: return "s";
    case 60 * RL_NSEC_PER_SEC: return "min";
    case 3600 * RL_NSEC_PER_SEC: return "h";
    case 86400 * RL_NSEC_PER_SEC: return "day";
    default: return formatDuration(period_ns);
    }
}

}  // namespace

std::string formatPacketRate(const Rate& r) {
    return std::to_string(r.count) + "/" + formatPeriod(r.period_ns);
}

std::string formatByteRate(const Rate& r) {
    static const struct {
        const char* name;
        uint64_t mult;
    } units[] = {{"TB", 1000000000000}, {"GB", 1000000000}, {"MB", 1000000}, {"kB", 1000}};
    for (const auto& u : units)
        if (r.count >= u.mult && r.count % u.mult == 0)
            return std::to_string(r.count / u.mult) + u.name + "/" + formatPeriod(r.period_ns);
    return std::to_string(r.count) + "B/" + formatPeriod(r.period_ns);
}

uint64_t defaultBurst(const Rate& r) {
    if (r.count == 0 || r.period_ns == 0) return 1;
    u128 per_sec = static_cast<u128>(r.count) * RL_NSEC_PER_SEC / r.period_ns;
    if (per_sec < 1) return 1;
    return per_sec > kU64Max ? UINT64_MAX : static_cast<uint64_t>(per_sec);
}

}  // namespace ratelimit
