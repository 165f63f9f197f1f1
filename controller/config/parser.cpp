// YAML -> Config. Collects every error (not just the first) with its 1-based
// line and column; unknown keys are errors so that a typo never silently turns
// into a default. Meter validation is delegated to the compiler
// (meterFromConfig / checkRules), so a config that parses also compiles.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <set>
#include <sstream>

#include "config/config.hpp"
#include "rules/compiler.hpp"

namespace ratelimit {
namespace {

constexpr uint64_t kMaxBlockNs = 30ull * 86400 * RL_NSEC_PER_SEC;  // 30 days
constexpr uint32_t kMinStateEntries = 1024;
constexpr uint32_t kMaxStateEntries = 1u << 28;
constexpr uint32_t kMaxEventRate = 1000000;
constexpr uint64_t kMaxTopSample = 1u << 20;

const char* const kMeterKeys[] = {"algorithm", "rate", "burst", "bytes_rate", "bytes_burst",
                                  "limit", "window", "key"};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool isMeterKey(const std::string& k) {
    return std::find_if(std::begin(kMeterKeys), std::end(kMeterKeys),
                        [&](const char* m) { return k == m; }) != std::end(kMeterKeys);
}

size_t editDistance(const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++) prev[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); j++)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string quoteList(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); i++) {
        if (i) s += i + 1 == v.size() ? " or " : ", ";
        s += v[i];
    }
    return s;
}

// A mapping's entries after key checking: name -> (key node, value node).
struct Entry {
    YAML::Node key;
    YAML::Node value;
};
using Fields = std::map<std::string, Entry>;

// Locations of the meter keys, to point meter errors at the right line.
struct MeterMarks {
    YAML::Mark tier = YAML::Mark::null_mark();
    YAML::Mark rate = YAML::Mark::null_mark();
    YAML::Mark bytes_rate = YAML::Mark::null_mark();
    YAML::Mark limit = YAML::Mark::null_mark();
};

class Parser {
public:
    std::vector<ConfigError> errors;

    void error(const YAML::Mark& m, const std::string& msg) {
        ConfigError e;
        if (!m.is_null()) {
            e.line = m.line + 1;
            e.column = m.column + 1;
        }
        e.message = msg;
        errors.push_back(std::move(e));
    }
    void error(const YAML::Node& n, const std::string& msg) { error(n.Mark(), msg); }

    static YAML::Mark markOf(const Entry& e) {
        // An empty value ("rate:") has no useful mark of its own.
        return e.value.IsNull() || e.value.Mark().is_null() ? e.key.Mark() : e.value.Mark();
    }

    // Checks that `n` is a mapping with only `allowed` keys; returns its entries.
    std::optional<Fields> mapping(const YAML::Node& n, const YAML::Mark& where, const std::string& what,
                                  const std::vector<std::string>& allowed) {
        if (!n.IsMap()) {
            error(n.IsNull() || n.Mark().is_null() ? where : n.Mark(), what + " must be a mapping");
            return std::nullopt;
        }
        Fields f;
        for (auto it = n.begin(); it != n.end(); ++it) {
            // copies: yaml-cpp's iterator hands out a temporary pair
            const YAML::Node k = it->first;
            if (!k.IsScalar()) {
                error(k, "keys of " + what + " must be plain names");
                continue;
            }
            std::string name = k.Scalar();
            if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
                std::string msg = "unknown key '" + name + "' in " + what;
                std::string best;
                size_t best_d = 3;
                for (const auto& a : allowed) {
                    size_t d = editDistance(name, a);
                    if (d < best_d) {
                        best_d = d;
                        best = a;
                    }
                }
                if (!best.empty()) msg += " (did you mean '" + best + "'?)";
                else msg += " (known keys: " + quoteList(allowed) + ")";
                error(k, msg);
                continue;
            }
            if (f.count(name)) {
                error(k, "duplicate key '" + name + "' in " + what + " (first at line " +
                             std::to_string(f[name].key.Mark().line + 1) + ")");
                continue;
            }
            f[name] = Entry{k, it->second};
        }
        return f;
    }

    std::optional<std::string> scalar(const Entry& e, const std::string& what) {
        if (e.value.IsNull()) {
            error(markOf(e), what + ": missing value");
            return std::nullopt;
        }
        if (!e.value.IsScalar()) {
            error(markOf(e), what + " must be a single value, not a " +
                                 (e.value.IsSequence() ? "list" : "mapping"));
            return std::nullopt;
        }
        return e.value.Scalar();
    }

    std::optional<uint64_t> integer(const Entry& e, const std::string& what, uint64_t lo, uint64_t hi) {
        auto s = scalar(e, what);
        if (!s) return std::nullopt;
        if (s->empty() || !std::all_of(s->begin(), s->end(), isDigit)) {
            error(markOf(e), what + ": '" + *s + "' is not a non-negative whole number");
            return std::nullopt;
        }
        errno = 0;
        unsigned long long v = std::strtoull(s->c_str(), nullptr, 10);
        if (errno == ERANGE || v < lo || v > hi) {
            error(markOf(e), what + ": " + *s + " out of range (" + std::to_string(lo) + "-" +
                                 std::to_string(hi) + ")");
            return std::nullopt;
        }
        return v;
    }

    // One of `choices`; returns its index.
    std::optional<size_t> choice(const Entry& e, const std::string& what,
                                 const std::vector<std::string>& choices) {
        auto s = scalar(e, what);
        if (!s) return std::nullopt;
        for (size_t i = 0; i < choices.size(); i++)
            if (*s == choices[i]) return i;
        error(markOf(e), what + ": '" + *s + "' is not one of " + quoteList(choices));
        return std::nullopt;
    }

    template <typename T>
    std::optional<T> unit(const Entry& e, const std::string& what, Result<T> (*fn)(const std::string&)) {
        auto s = scalar(e, what);
        if (!s) return std::nullopt;
        auto r = fn(*s);
        if (!r) {
            error(markOf(e), what + ": " + r.error().context);
            return std::nullopt;
        }
        return *r;
    }

    std::optional<std::string> path(const Entry& e, const std::string& what) {
        auto s = scalar(e, what);
        if (!s) return std::nullopt;
        if (s->empty() || (*s)[0] != '/') {
            error(markOf(e), what + ": '" + *s + "' must be an absolute path");
            return std::nullopt;
        }
        return s;
    }

    // A list of scalars, or a single scalar standing for a list of one.
    std::vector<std::pair<std::string, YAML::Mark>> scalarList(const Entry& e, const std::string& what) {
        std::vector<std::pair<std::string, YAML::Mark>> out;
        if (e.value.IsScalar()) {
            out.emplace_back(e.value.Scalar(), e.value.Mark());
        } else if (e.value.IsSequence()) {
            for (const auto& item : e.value) {
                if (!item.IsScalar()) {
                    error(item.Mark().is_null() ? markOf(e) : item.Mark(),
                          what + ": each entry must be a single value");
                    continue;
                }
                out.emplace_back(item.Scalar(), item.Mark());
            }
        } else {
            error(markOf(e), what + " must be a list");
        }
        return out;
    }

    std::vector<Cidr> cidrList(const Entry& e, const std::string& what) {
        std::vector<Cidr> out;
        for (const auto& [text, mark] : scalarList(e, what)) {
            auto c = parseCidr(text);
            if (!c) {
                error(mark, what + ": " + c.error().context);
                continue;
            }
            if (std::find(out.begin(), out.end(), *c) != out.end()) {
                error(mark, what + ": " + formatCidr(*c) + " is listed twice");
                continue;
            }
            out.push_back(*c);
        }
        return out;
    }

    // ---- meters ----

    // Reads the meter keys present in `f` into `m`. Returns false on errors.
    bool meterKeys(const Fields& f, const std::string& what, MeterConfig& m, MeterMarks& marks,
                   bool global) {
        size_t before = errors.size();
        std::optional<size_t> algo;
        auto get = [&](const char* k) -> const Entry* {
            auto it = f.find(k);
            return it == f.end() ? nullptr : &it->second;
        };
        if (auto e = get("algorithm")) {
            if (global)
                algo = choice(*e, what + " algorithm", {"token_bucket", "gcra"});
            else
                algo = choice(*e, what + " algorithm",
                              {"token_bucket", "gcra", "sliding_window", "fixed_window"});
        }
        if (auto e = get("rate")) {
            marks.rate = markOf(*e);
            if (auto r = unit<Rate>(*e, what + " rate", parsePacketRate)) m.packets = *r;
        }
        if (auto e = get("burst")) {
            if (auto b = integer(*e, what + " burst", 1, UINT64_MAX)) m.burst_packets = *b;
        }
        if (auto e = get("bytes_rate")) {
            marks.bytes_rate = markOf(*e);
            if (auto r = unit<Rate>(*e, what + " bytes_rate", parseByteRate)) m.bytes = *r;
        }
        if (auto e = get("bytes_burst")) {
            if (auto b = unit<uint64_t>(*e, what + " bytes_burst", parseByteSize)) {
                if (*b == 0) error(markOf(*e), what + " bytes_burst must be at least 1 byte");
                m.burst_bytes = *b;
            }
        }
        if (auto e = get("limit")) {
            marks.limit = markOf(*e);
            if (auto l = integer(*e, what + " limit", 1, UINT32_MAX - 1)) m.window_limit = *l;
        }
        if (auto e = get("window")) {
            if (auto w = unit<uint64_t>(*e, what + " window", parseDurationNs)) m.window_ns = *w;
        }
        if (auto e = get("key")) {
            if (auto kf = mapping(e->value, markOf(*e), what + " key", {"ipv4_prefix", "ipv6_prefix"})) {
                if (auto p = kf->find("ipv4_prefix"); p != kf->end())
                    if (auto v = integer(p->second, what + " key ipv4_prefix", 0, 32)) m.prefix_v4 = *v;
                if (auto p = kf->find("ipv6_prefix"); p != kf->end())
                    if (auto v = integer(p->second, what + " key ipv6_prefix", 0, 128)) m.prefix_v6 = *v;
            }
        }
        if (errors.size() != before) return false;

        // Which algorithm, and which keys belong to it.
        bool has_window = get("limit") || get("window");
        bool has_tb = get("rate") || get("burst") || get("bytes_rate") || get("bytes_burst");
        if (!algo) {
            if (has_window && has_tb) {
                error(marks.tier, what + ": rate/burst and limit/window are different algorithms; "
                                         "set algorithm: to say which one");
                return false;
            }
            m.algo = has_window ? RL_ALGO_SLIDING_WINDOW : RL_ALGO_TOKEN_BUCKET;
        } else {
            static const rl_algo algos[] = {RL_ALGO_TOKEN_BUCKET, RL_ALGO_GCRA, RL_ALGO_SLIDING_WINDOW,
                                            RL_ALGO_FIXED_WINDOW};
            m.algo = algos[*algo];
        }
        auto forbid = [&](const char* k, const char* why) {
            if (auto e = get(k)) error(e->key.Mark(), what + ": '" + k + "' " + why);
        };
        switch (m.algo) {
        case RL_ALGO_TOKEN_BUCKET:
            forbid("limit", "belongs to the window algorithms, not token_bucket");
            forbid("window", "belongs to the window algorithms, not token_bucket");
            if (!m.packets.count && !m.bytes.count)
                error(marks.tier, what + ": token_bucket needs rate, bytes_rate or both");
            if (get("burst") && !m.packets.count) forbid("burst", "needs rate");
            if (get("bytes_burst") && !m.bytes.count) forbid("bytes_burst", "needs bytes_rate");
            break;
        case RL_ALGO_GCRA:
            forbid("bytes_rate", "is not supported by gcra (packets only); use token_bucket");
            forbid("bytes_burst", "is not supported by gcra (packets only); use token_bucket");
            forbid("limit", "belongs to the window algorithms, not gcra");
            forbid("window", "belongs to the window algorithms, not gcra");
            if (!m.packets.count) error(marks.tier, what + ": gcra needs rate");
            break;
        default:
            forbid("rate", "belongs to token_bucket/gcra; window algorithms use limit and window");
            forbid("burst", "belongs to token_bucket/gcra; window algorithms use limit and window");
            forbid("bytes_rate", "belongs to token_bucket; window algorithms count packets");
            forbid("bytes_burst", "belongs to token_bucket; window algorithms count packets");
            if (!get("limit")) error(marks.tier, what + ": " + (m.algo == RL_ALGO_FIXED_WINDOW ? "fixed" : "sliding") +
                                                     "_window needs limit (packets per window)");
            if (!get("window")) error(marks.tier, what + ": window algorithms need window (e.g. 1m)");
            break;
        }
        if (errors.size() != before) return false;

        if (m.packets.count && !m.burst_packets) m.burst_packets = defaultBurst(m.packets);
        if (m.bytes.count && !m.burst_bytes) m.burst_bytes = defaultBurst(m.bytes);
        if (global) m.prefix_v4 = m.prefix_v6 = 0;

        // The compiler's own check, so a parsed config always compiles.
        auto built = meterFromConfig(m, global);
        if (!built) {
            const std::string& op = built.error().op;
            YAML::Mark at = marks.tier;
            if (op.find("bytes") != std::string::npos && !marks.bytes_rate.is_null()) at = marks.bytes_rate;
            else if ((op.find("packets") != std::string::npos || op == "gcra") && !marks.rate.is_null())
                at = marks.rate;
            else if (op == "window" && !marks.limit.is_null()) at = marks.limit;
            error(at, what + ": " + built.error().message());
            return false;
        }
        return true;
    }

    // A tier from a `tiers:` list entry.
    std::optional<MeterConfig> tier(const YAML::Node& n, const YAML::Mark& where, const std::string& what) {
        std::vector<std::string> allowed(std::begin(kMeterKeys), std::end(kMeterKeys));
        auto f = mapping(n, where, what, allowed);
        if (!f) return std::nullopt;
        MeterConfig m;
        MeterMarks marks;
        marks.tier = n.Mark();
        if (!meterKeys(*f, what, m, marks, false)) return std::nullopt;
        return m;
    }

    // ---- rules ----

    std::optional<RuleConfig> rule(const YAML::Node& n, const YAML::Mark& where, const std::string& label,
                                   bool is_default) {
        std::vector<std::string> allowed = {"action", "on_exceed", "block_for", "tiers", "global",
                                            "admit", "unknown"};
        if (!is_default) allowed.insert(allowed.begin(), {"name", "sources", "protocol", "ports"});
        allowed.insert(allowed.end(), std::begin(kMeterKeys), std::end(kMeterKeys));
        size_t before = errors.size();
        std::string what = label;
        if (!is_default && n.IsMap()) {
            // name the rule in every message, including unknown keys found first
            for (auto it = n.begin(); it != n.end(); ++it) {
                const YAML::Node k = it->first, v = it->second;
                if (k.IsScalar() && k.Scalar() == "name" && v.IsScalar() && validRuleName(v.Scalar()))
                    what = "rule '" + v.Scalar() + "'";
            }
        }
        auto f = mapping(n, where, what, allowed);
        if (!f) return std::nullopt;
        auto get = [&](const char* k) -> const Entry* {
            auto it = f->find(k);
            return it == f->end() ? nullptr : &it->second;
        };

        RuleConfig r;
        r.where = {n.Mark().line + 1, n.Mark().column + 1};
        if (is_default) {
            r.name = kDefaultRuleName;
        } else if (auto e = get("name")) {
            if (auto s = scalar(*e, label + " name")) {
                r.name = *s;
                if (!validRuleName(*s))
                    error(markOf(*e), "rule name '" + *s + "' must be 1-47 characters of A-Z a-z 0-9 _ . -");
                else if (*s == kDefaultRuleName || *s == kManagementRuleName)
                    error(markOf(*e), "rule name '" + *s + "' is reserved (use defaults: for the default rule)");
            }
        } else {
            error(n.Mark(), label + " needs a name");
        }

        bool action_ok = true;
        if (auto e = get("action")) {
            static const rl_action acts[] = {RL_ACT_LIMIT, RL_ACT_ALLOW, RL_ACT_DENY};
            auto i = choice(*e, what + " action", {"limit", "allow", "deny"});
            if (i) r.action = acts[*i];
            action_ok = i.has_value();
        }
        if (auto e = get("on_exceed")) {
            static const rl_on_exceed ex[] = {RL_EXCEED_DROP, RL_EXCEED_BLOCK, RL_EXCEED_MONITOR};
            if (auto i = choice(*e, what + " on_exceed", {"drop", "block", "monitor"})) r.on_exceed = ex[*i];
        }
        if (auto e = get("block_for")) {
            if (auto d = unit<uint64_t>(*e, what + " block_for", parseDurationNs)) {
                if (*d < 1000000 || *d > kMaxBlockNs)
                    error(markOf(*e), what + " block_for must be between 1ms and 30 days");
                r.block_ns = *d;
            }
        }

        // sources, protocol, ports
        if (auto e = get("sources")) {
            r.sources = cidrList(*e, what + " sources");
            if (e->value.IsSequence() && e->value.size() == 0)
                error(markOf(*e), what + " sources must not be empty (omit sources: to match every source)");
        }
        if (auto e = get("protocol")) {
            static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6};
            if (auto i = choice(*e, what + " protocol", {"tcp", "udp", "icmp", "icmpv6"})) {
                r.proto = protos[*i];
                for (const auto& c : r.sources) {
                    bool v6 = c.addr.family == 6;
                    if ((r.proto == IPPROTO_ICMP && v6) || (r.proto == IPPROTO_ICMPV6 && !v6))
                        error(markOf(*e), what + ": protocol " + e->value.Scalar() + " never matches source " +
                                              formatCidr(c));
                }
            }
        }
        if (auto e = get("ports")) {
            for (const auto& [text, mark] : scalarList(*e, what + " ports")) {
                auto range = parsePortRange(text);
                if (!range) {
                    error(mark, what + " ports: '" + text + "' " + range.error().context);
                    continue;
                }
                r.ports.push_back(*range);
            }
            if (e->value.IsSequence() && e->value.size() == 0)
                error(markOf(*e), what + " ports must not be empty (omit ports: to match every port)");
            if (!r.proto || (*r.proto != IPPROTO_TCP && *r.proto != IPPROTO_UDP))
                error(e->key.Mark(), what + ": ports need protocol: tcp or udp");
        }

        // meters
        bool top_meter = false;
        for (const auto& [k, ent] : *f)
            if (isMeterKey(k)) top_meter = true;
        if (!action_ok) {
            // which keys belong depends on the action: nothing more to say
        } else if (r.action == RL_ACT_LIMIT) {
            if (top_meter && get("tiers")) {
                error(get("tiers")->key.Mark(),
                      what + ": use either top-level rate/limit keys (one tier) or tiers:, not both");
            } else if (top_meter) {
                MeterConfig m;
                MeterMarks marks;
                for (const char* k : kMeterKeys)
                    if (auto e = get(k); e && marks.tier.is_null()) marks.tier = e->key.Mark();
                if (meterKeys(*f, what, m, marks, false)) r.tiers.push_back(m);
            } else if (auto e = get("tiers")) {
                if (!e->value.IsSequence() || e->value.size() == 0) {
                    error(markOf(*e), what + " tiers must be a non-empty list of meters");
                } else if (e->value.size() > RL_MAX_TIERS) {
                    error(markOf(*e), what + " has " + std::to_string(e->value.size()) +
                                          " tiers; at most " + std::to_string(RL_MAX_TIERS) + " are supported");
                } else {
                    for (size_t i = 0; i < e->value.size(); i++) {
                        YAML::Node t = e->value[i];
                        if (auto m = tier(t, markOf(*e), what + " tier " + std::to_string(i + 1)))
                            r.tiers.push_back(*m);
                    }
                }
            } else {
                error(n.Mark(), what + ": a limit rule needs rate, bytes_rate, limit+window or tiers: "
                                       "(or action: allow/deny)");
            }
            // global ceiling, admission of new keys, allowance of refused sources:
            // each a packet meter over all sources of the rule
            auto aggregate = [&](const char* key, const char* meaning) -> std::optional<MeterConfig> {
                auto e = get(key);
                if (!e) return std::nullopt;
                auto gf = mapping(e->value, markOf(*e), what + " " + key, {"rate", "burst", "algorithm"});
                if (!gf) return std::nullopt;
                MeterConfig g;
                MeterMarks marks;
                marks.tier = markOf(*e);
                if (!gf->count("rate"))
                    error(markOf(*e), what + " " + key + " needs rate (" + meaning + ")");
                else if (meterKeys(*gf, what + " " + key, g, marks, true))
                    return g;
                return std::nullopt;
            };
            r.global = aggregate("global", "packets over all sources together");
            r.admit = aggregate("admit", "new sources given their own state, e.g. 100/s");
            r.unknown = aggregate("unknown", "packets shared by sources refused admission");
            if (get("unknown") && !get("admit"))
                error(get("unknown")->key.Mark(), what + ": unknown only applies with admit");
            if (r.on_exceed == RL_EXCEED_BLOCK && !get("block_for"))
                error(get("on_exceed")->key.Mark(), what + ": on_exceed: block needs block_for (e.g. 30s)");
            if (r.on_exceed != RL_EXCEED_BLOCK && get("block_for"))
                error(get("block_for")->key.Mark(), what + ": block_for only applies with on_exceed: block");
        } else {
            const char* act = r.action == RL_ACT_ALLOW ? "an allow" : "a deny";
            for (const auto& [k, ent] : *f)
                if (isMeterKey(k) || k == "tiers" || k == "global" || k == "admit" || k == "unknown" ||
                    k == "on_exceed" || k == "block_for")
                    error(ent.key.Mark(), what + ": '" + k + "' has no effect on " + act +
                                              " rule (only action: limit meters)");
        }
        if (errors.size() != before) return std::nullopt;
        return r;
    }

    static Result<PortRange> parsePortRange(const std::string& text) {
        auto num = [](const std::string& s, uint16_t& out) {
            if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), isDigit)) return false;
            unsigned long v = std::stoul(s);
            if (v > 65535) return false;
            out = static_cast<uint16_t>(v);
            return true;
        };
        PortRange p;
        auto dash = text.find('-');
        if (dash == std::string::npos) {
            if (!num(text, p.lo)) return invalid("ports", "is not a port (0-65535) or range like 8000-8080");
            p.hi = p.lo;
        } else {
            if (!num(text.substr(0, dash), p.lo) || !num(text.substr(dash + 1), p.hi))
                return invalid("ports", "is not a port (0-65535) or range like 8000-8080");
            if (p.lo > p.hi) return invalid("ports", "is a range whose start is above its end");
        }
        return p;
    }

    // ---- top level ----

    void interfaces(const Entry& e, Config& c) {
        if (!e.value.IsSequence()) {
            error(markOf(e), "interfaces must be a list of names or {name, mode} mappings");
            return;
        }
        std::map<std::string, YAML::Mark> seen;
        for (const auto& item : e.value) {
            InterfaceConfig ic;
            YAML::Mark at = item.Mark();
            if (item.IsScalar()) {
                ic.name = item.Scalar();
            } else {
                auto f = mapping(item, markOf(e), "interface", {"name", "mode"});
                if (!f) continue;
                if (auto it = f->find("name"); it != f->end()) {
                    if (auto s = scalar(it->second, "interface name")) ic.name = *s;
                    at = markOf(it->second);
                } else {
                    error(item, "interface needs a name");
                    continue;
                }
                if (auto it = f->find("mode"); it != f->end()) {
                    static const XdpMode modes[] = {XdpMode::Auto, XdpMode::Native, XdpMode::Generic};
                    if (auto i = choice(it->second, "interface mode", {"auto", "native", "generic"}))
                        ic.mode = modes[*i];
                }
            }
            if (ic.name.empty() || ic.name.size() > 15 || ic.name.find('/') != std::string::npos ||
                ic.name.find(' ') != std::string::npos) {
                error(at, "interface name '" + ic.name + "' is not a valid Linux interface name (1-15 characters)");
                continue;
            }
            if (seen.count(ic.name)) {
                error(at, "interface " + ic.name + " is listed twice");
                continue;
            }
            seen[ic.name] = at;
            c.interfaces.push_back(ic);
        }
    }

    void tracking(const Entry& e, Config& c) {
        auto f = mapping(e.value, markOf(e), "tracking", {"capacity_v4", "capacity_v6", "block_capacity", "new_keys"});
        if (!f) return;
        if (auto it = f->find("capacity_v4"); it != f->end())
            if (auto v = integer(it->second, "tracking capacity_v4", kMinStateEntries, kMaxStateEntries))
                c.state_entries_v4 = *v;
        if (auto it = f->find("capacity_v6"); it != f->end())
            if (auto v = integer(it->second, "tracking capacity_v6", kMinStateEntries, kMaxStateEntries))
                c.state_entries_v6 = *v;
        if (auto it = f->find("block_capacity"); it != f->end())
            if (auto v = integer(it->second, "tracking block_capacity", 1, kMaxStateEntries)) c.block_entries = *v;
        if (auto it = f->find("new_keys"); it != f->end())
            if (auto i = choice(it->second, "tracking new_keys", {"full", "empty", "empty_under_pressure"})) {
                c.new_keys_empty = *i == 1;
                c.new_keys_empty_under_pressure = *i == 2;
            }
    }

    void packets(const Entry& e, Config& c) {
        auto f = mapping(e.value, markOf(e), "packets", {"malformed", "state_full", "count_bytes", "refusal_cache"});
        if (!f) return;
        if (auto it = f->find("malformed"); it != f->end())
            if (auto i = choice(it->second, "packets malformed", {"drop", "pass"}))
                c.malformed_verdict = *i == 0 ? RL_VERDICT_DROP : RL_VERDICT_PASS;
        if (auto it = f->find("state_full"); it != f->end())
            if (auto i = choice(it->second, "packets state_full", {"pass", "drop"}))
                c.state_full_verdict = *i == 0 ? RL_VERDICT_PASS : RL_VERDICT_DROP;
        if (auto it = f->find("count_bytes"); it != f->end())
            if (auto i = choice(it->second, "packets count_bytes", {"l3", "l2"})) c.l2_bytes = *i == 1;
        if (auto it = f->find("refusal_cache"); it != f->end())
            if (auto i = choice(it->second, "packets refusal_cache", {"on", "off"})) c.refusal_cache = *i == 0;
    }

    void events(const Entry& e, Config& c) {
        auto f = mapping(e.value, markOf(e), "events", {"rate", "burst"});
        if (!f) return;
        bool burst_set = false;
        if (auto it = f->find("rate"); it != f->end())
            if (auto v = integer(it->second, "events rate (per second; 0 = off)", 0, kMaxEventRate))
                c.event_rate = *v;
        if (auto it = f->find("burst"); it != f->end()) {
            if (auto v = integer(it->second, "events burst", 1, kMaxEventRate)) {
                c.event_burst = *v;
                burst_set = true;
            }
        }
        if (!burst_set && f->count("rate")) c.event_burst = std::max<uint32_t>(1, c.event_rate * 2);
    }

    void top(const Entry& e, Config& c) {
        auto f = mapping(e.value, markOf(e), "top", {"sample"});
        if (!f) return;
        auto it = f->find("sample");
        if (it == f->end()) return;
        if (auto s = scalar(it->second, "top sample"); s && (*s == "off" || *s == "0")) {
            c.talker_shift = 0;
            return;
        }
        auto v = integer(it->second, "top sample", 2, kMaxTopSample);
        if (!v) return;
        if (*v & (*v - 1)) {
            error(markOf(it->second), "top sample: " + std::to_string(*v) +
                                          " is not a power of two (e.g. 64 = one packet in 64; off = no sampling)");
            return;
        }
        c.talker_shift = static_cast<uint8_t>(__builtin_ctzll(*v));
    }

    void metrics(const Entry& e, Config& c) {
        auto f = mapping(e.value, markOf(e), "metrics", {"listen"});
        if (!f) return;
        auto it = f->find("listen");
        if (it == f->end()) return;
        auto s = scalar(it->second, "metrics listen");
        if (!s) return;
        // "127.0.0.1:9477", "[::1]:9477", ":9477" (all addresses), "off"
        if (*s == "off" || s->empty()) {
            c.metrics_listen.clear();
            return;
        }
        auto colon = s->rfind(':');
        std::string host = colon == std::string::npos ? "" : s->substr(0, colon);
        std::string port = colon == std::string::npos ? *s : s->substr(colon + 1);
        bool ok = colon != std::string::npos && !port.empty() && port.size() <= 5 &&
                  std::all_of(port.begin(), port.end(), isDigit) && std::stoul(port) >= 1 &&
                  std::stoul(port) <= 65535;
        if (ok && !host.empty() && host != "localhost") {
            if (host.front() == '[' && host.back() == ']') {
                auto ip = parseIp(host.substr(1, host.size() - 2));
                ok = ip && ip->family == 6;
            } else {
                auto ip = parseIp(host);
                ok = ip && ip->family == 4;
            }
        }
        if (!ok) {
            error(markOf(it->second), "metrics listen: '" + *s +
                                          "' is not address:port (e.g. 127.0.0.1:9477, [::1]:9477, :9477 or off)");
            return;
        }
        c.metrics_listen = *s;
    }

    void control(const Entry& e, Config& c) {
        auto f = mapping(e.value, markOf(e), "control", {"socket", "group"});
        if (!f) return;
        if (auto it = f->find("socket"); it != f->end())
            if (auto p = path(it->second, "control socket")) c.control_socket = *p;
        if (auto it = f->find("group"); it != f->end())
            if (auto s = scalar(it->second, "control group")) {
                if (s->empty() || s->find_first_of(" :/") != std::string::npos)
                    error(markOf(it->second), "control group: '" + *s + "' is not a group name");
                else
                    c.control_group = *s;
            }
    }

    void parseTop(const YAML::Node& root, Config& c) {
        if (root.IsNull()) return;  // an empty file: every default
        auto f = mapping(root, root.Mark(), "the configuration",
                         {"version", "interfaces", "defaults", "rules", "tracking", "packets", "events", "top",
                          "metrics", "control", "pin_path", "log_level", "management"});
        if (!f) return;
        for (const auto& [k, e] : *f) {
            if (k == "version") {
                integer(e, "version (this daemon reads version 1)", 1, 1);
            } else if (k == "interfaces") {
                interfaces(e, c);
            } else if (k == "defaults") {
                if (auto r = rule(e.value, markOf(e), "defaults", true)) c.default_rule = *r;
            } else if (k == "rules") {
                if (e.value.IsNull()) continue;  // "rules:" with nothing under it
                if (!e.value.IsSequence()) {
                    error(markOf(e), "rules must be a list of rules (each starting with '- name: ...')");
                    continue;
                }
                for (size_t i = 0; i < e.value.size(); i++)
                    if (auto r = rule(e.value[i], markOf(e), "rule " + std::to_string(i + 1), false))
                        c.rules.push_back(*r);
            } else if (k == "tracking") {
                tracking(e, c);
            } else if (k == "packets") {
                packets(e, c);
            } else if (k == "events") {
                events(e, c);
            } else if (k == "top") {
                top(e, c);
            } else if (k == "metrics") {
                metrics(e, c);
            } else if (k == "control") {
                control(e, c);
            } else if (k == "pin_path") {
                if (auto p = path(e, "pin_path")) c.pin_path = *p;
            } else if (k == "log_level") {
                if (auto i = choice(e, "log_level", {"debug", "info", "warn", "error"})) c.log_level = *scalar(e, "");
            } else if (k == "management") {
                auto mf = mapping(e.value, markOf(e), "management", {"allow", "protect_ssh"});
                if (mf) {
                    if (auto it = mf->find("allow"); it != mf->end())
                        c.management_allow = cidrList(it->second, "management allow");
                    if (auto it = mf->find("protect_ssh"); it != mf->end())
                        if (auto b = choice(it->second, "management protect_ssh", {"false", "true"}))
                            c.protect_ssh = *b == 1;
                }
            }
        }
    }
};

// A config whose file omits `defaults:` lets everything no rule matches pass:
// only what the operator listed is limited (see docs/config.md).
RuleConfig allowDefaultRule() {
    RuleConfig r;
    r.name = kDefaultRuleName;
    r.action = RL_ACT_ALLOW;
    return r;
}

void addSetErrors(const Config& c, std::vector<ConfigError>& errors) {
    for (const auto& issue : checkRules(c))
        errors.push_back(ConfigError{issue.where.line, issue.where.column, issue.message});
}

void sortErrors(std::vector<ConfigError>& errors) {
    std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
}

YAML::Node load(const std::string& text, std::vector<ConfigError>& errors) {
    try {
        return YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        ConfigError ce;
        if (!e.mark.is_null()) {
            ce.line = e.mark.line + 1;
            ce.column = e.mark.column + 1;
        }
        ce.message = "YAML syntax: " + e.msg;
        errors.push_back(ce);
    } catch (const YAML::Exception& e) {
        errors.push_back(ConfigError{0, 0, std::string("YAML: ") + e.what()});
    }
    return YAML::Node();
}

}  // namespace

bool validRuleName(const std::string& name) {
    if (name.empty() || name.size() >= RL_RULE_NAME_MAX) return false;
    return std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
               ch == '.' || ch == '-';
    });
}

ParseOutcome parseConfigText(const std::string& yaml) {
    ParseOutcome out;
    YAML::Node root = load(yaml, out.errors);
    if (!out.errors.empty()) return out;
    Parser p;
    Config c;
    c.default_rule = allowDefaultRule();
    try {
        p.parseTop(root, c);
    } catch (const YAML::Exception& e) {
        p.error(e.mark, std::string("YAML: ") + e.what());
    }
    out.errors = std::move(p.errors);
    // Whole-set checks run on the rules that parsed, so that one pass reports
    // (nearly) everything; a rule with errors of its own is left out of them.
    addSetErrors(c, out.errors);
    if (out.errors.empty()) out.config = std::move(c);
    sortErrors(out.errors);
    return out;
}

ParseOutcome parseConfigFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        ParseOutcome out;
        out.errors.push_back(ConfigError{0, 0, "cannot open " + path + ": " + std::strerror(errno)});
        return out;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return parseConfigText(ss.str());
}

RuleParseOutcome parseRuleText(const std::string& yaml) {
    RuleParseOutcome out;
    YAML::Node root = load(yaml, out.errors);
    if (!out.errors.empty()) return out;
    Parser p;
    try {
        auto r = p.rule(root, root.Mark(), "rule", false);
        if (p.errors.empty()) out.rule = r;
    } catch (const YAML::Exception& e) {
        p.error(e.mark, std::string("YAML: ") + e.what());
    }
    out.errors = std::move(p.errors);
    sortErrors(out.errors);
    if (!out.errors.empty()) out.rule.reset();
    return out;
}

std::string formatErrors(const std::string& source, const std::vector<ConfigError>& errors,
                         const std::string& filename) {
    std::vector<std::string> lines;
    {
        std::stringstream ss(source);
        std::string l;
        while (std::getline(ss, l)) lines.push_back(l);
    }
    std::string out;
    for (const auto& e : errors) {
        out += filename;
        if (e.line > 0) out += ":" + std::to_string(e.line) + ":" + std::to_string(e.column);
        out += ": " + e.message + "\n";
        if (e.line > 0 && static_cast<size_t>(e.line) <= lines.size()) {
            const std::string& l = lines[e.line - 1];
            out += "    " + l + "\n    ";
            // keep tabs so the caret lines up under the column
            for (int i = 0; i + 1 < e.column && static_cast<size_t>(i) < l.size(); i++)
                out += l[i] == '\t' ? '\t' : ' ';
            out += "^\n";
        }
    }
    return out;
}

std::string formatErrors(const std::string& source, const std::vector<ConfigError>& errors) {
    return formatErrors(source, errors, "config");
}

}  // namespace ratelimit
