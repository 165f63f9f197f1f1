// Config -> the exact contents of rl_rules, rl_rulemeta, rl_lpm4/6 and rl_cfg.
//
// Classification (docs/config.md, "Precedence"): the fast path does ONE LPM
// lookup of the source address and walks that prefix's candidate list in order,
// first match wins; nothing matches (or no prefix covers the address) -> the
// default rule (rl_classify falls back to RL_RULE_DEFAULT, so no /0 entry is
// installed for it). The compiler flattens inheritance so that one lookup is
// enough: a prefix's list is its own rules (narrowed by protocol+ports, then
// protocol-only, then unnarrowed; ties in file order) followed by the list of
// the nearest covering prefix. The implicit "management" allow rule comes
// before everything at and inside its CIDRs.
#include "rules/compiler.hpp"

#include <algorithm>
#include <cstring>
#include <netinet/in.h>
#include <set>

namespace ratelimit {
namespace {

struct Cand {
    rl_match m{};
    int cls = 2;                // 0: proto+ports, 1: proto only, 2: any
    size_t order = 0;           // position in the rule list (file order)
    const RuleConfig* rule = nullptr;
};

using CandList = std::vector<Cand>;

bool sameMatch(const rl_match& a, const rl_match& b) {
    return a.rule_id == b.rule_id && a.flags == b.flags && a.proto == b.proto && a.port_lo == b.port_lo &&
           a.port_hi == b.port_hi;
}

// Does `a` match every packet `b` matches?
bool covers(const rl_match& a, const rl_match& b) {
    if (!(a.flags & RL_RULE_F_PROTO)) return true;
    if (!(b.flags & RL_RULE_F_PROTO) || a.proto != b.proto) return false;
    if (!(a.flags & RL_RULE_F_PORTS)) return true;
    if (!(b.flags & RL_RULE_F_PORTS)) return false;
    return a.port_lo <= b.port_lo && b.port_hi <= a.port_hi;
}

std::string describe(const Cand& c) {
    std::string s = "rule '" + c.rule->name + "'";
    if (c.m.flags & RL_RULE_F_PORTS) {
        s += " (ports " + std::to_string(c.m.port_lo);
        if (c.m.port_hi != c.m.port_lo) s += "-" + std::to_string(c.m.port_hi);
        s += ")";
    }
    return s;
}

bool lessCidr(const Cidr& a, const Cidr& b) {
    return std::tie(a.prefix_len, a.addr.bytes) < std::tie(b.prefix_len, b.addr.bytes);
}
struct CidrLess {
    bool operator()(const Cidr& a, const Cidr& b) const { return lessCidr(a, b); }
};

class Builder {
public:
    Builder(const Config& c, const RuleImage* prev, std::vector<CompileIssue>& issues)
        : cfg_(c), prev_(prev), issues_(issues), default_(c.default_rule) {
        default_.name = kDefaultRuleName;  // an unnamed default rule (Config{}) is still "default"
    }

    RuleImage build() {
        RuleImage img;
        img.rules.assign(RL_MAX_RULES, rl_rule{});
        img.meta.assign(RL_MAX_RULES, rl_rule_meta{});

        management_.name = kManagementRuleName;
        management_.action = RL_ACT_ALLOW;
        management_.sources = cfg_.management_allow;

        // rule list: default, management (if any), config rules in file order
        std::vector<const RuleConfig*> rules;
        rules.push_back(&default_);
        if (!cfg_.management_allow.empty()) rules.push_back(&management_);
        for (const auto& r : cfg_.rules) rules.push_back(&r);

        checkNames(rules);
        size_t user = rules.size() - 1;
        if (user > RL_MAX_RULES - 1) {
            issue(nullptr, std::to_string(cfg_.rules.size()) + " rules configured" +
                               (cfg_.management_allow.empty() ? "" : " plus the management rule") +
                               "; at most " + std::to_string(RL_MAX_RULES - 1 - (cfg_.management_allow.empty() ? 0 : 1)) +
                               " fit (RL_MAX_RULES = " + std::to_string(RL_MAX_RULES) +
                               " ids, id 0 is the default rule)");
            return img;
        }
        assignIds(rules, img);
        for (const RuleConfig* r : rules) compileRule(*r, img);
        keepFreedSlots(img);
        buildLpm(rules, img);
        buildCfg(img);
        return img;
    }

private:
    void issue(const RuleConfig* r, std::string msg) {
        CompileIssue i;
        if (r) {
            i.rule = r->name;
            i.where = r->where;
        }
        i.message = std::move(msg);
        for (const auto& old : issues_)
            if (old.rule == i.rule && old.message == i.message) return;
        issues_.push_back(std::move(i));
    }

    static std::string at(const RuleConfig& r) {
        return r.where.line ? " (line " + std::to_string(r.where.line) + ")" : "";
    }

    void checkNames(const std::vector<const RuleConfig*>& rules) {
        if (cfg_.default_rule.name != kDefaultRuleName && !cfg_.default_rule.name.empty())
            issue(&default_, "the default rule must be named 'default', not '" + cfg_.default_rule.name + "'");
        if (!default_.sources.empty() || default_.proto || !default_.ports.empty())
            issue(&default_, "the default rule applies to everything no rule matches; it takes no "
                                      "sources, protocol or ports");
        std::map<std::string, const RuleConfig*> seen;
        for (const RuleConfig* r : rules) {
            if (r != &default_ && r != &management_) {
                if (!validRuleName(r->name)) {
                    issue(r, "rule name '" + r->name + "' must be 1-47 characters of A-Z a-z 0-9 _ . -");
                    continue;
                }
                if (r->name == kDefaultRuleName || r->name == kManagementRuleName) {
                    issue(r, "rule name '" + r->name + "' is reserved");
                    continue;
                }
            }
            auto [it, fresh] = seen.emplace(r->name, r);
            if (!fresh) issue(r, "rule name '" + r->name + "' is used twice (first" + at(*it->second) + ")");
        }
    }

    void assignIds(const std::vector<const RuleConfig*>& rules, RuleImage& img) {
        std::vector<bool> used(RL_MAX_RULES, false);
        used[RL_RULE_DEFAULT] = true;
        img.ids[kDefaultRuleName] = RL_RULE_DEFAULT;
        if (prev_) {
            for (const RuleConfig* r : rules) {
                auto it = prev_->ids.find(r->name);
                if (it == prev_->ids.end() || it->second == RL_RULE_DEFAULT || it->second >= RL_MAX_RULES ||
                    used[it->second] || img.ids.count(r->name))
                    continue;
                img.ids[r->name] = it->second;
                used[it->second] = true;
            }
        }
        uint32_t next = 1;
        for (const RuleConfig* r : rules) {
            if (img.ids.count(r->name)) continue;
            while (next < RL_MAX_RULES && used[next]) next++;
            if (next >= RL_MAX_RULES) {  // unreachable after the count check
                issue(r, "no free rule id");
                return;
            }
            img.ids[r->name] = next;
            used[next] = true;
        }
    }

    void compileRule(const RuleConfig& r, RuleImage& img) {
        auto idIt = img.ids.find(r.name);
        if (idIt == img.ids.end()) return;
        uint32_t id = idIt->second;
        if (ruleOf_.count(id)) return;  // a duplicate name, reported already
        ruleOf_[id] = &r;
        rl_rule& out = img.rules[id];
        out = rl_rule{};
        out.action = static_cast<uint8_t>(r.action);
        out.on_exceed = static_cast<uint8_t>(r.on_exceed);

        if (r.action >= RL_ACT__MAX) issue(&r, "rule '" + r.name + "': unknown action");
        if (r.on_exceed >= RL_EXCEED__MAX) issue(&r, "rule '" + r.name + "': unknown on_exceed");
        if (r.action == RL_ACT_LIMIT) {
            if (r.tiers.empty())
                issue(&r, "rule '" + r.name + "': a limit rule needs at least one meter");
            if (r.tiers.size() > RL_MAX_TIERS)
                issue(&r, "rule '" + r.name + "' has " + std::to_string(r.tiers.size()) + " tiers; at most " +
                              std::to_string(RL_MAX_TIERS) + " are supported");
            for (size_t t = 0; t < r.tiers.size() && t < RL_MAX_TIERS; t++) {
                auto m = meterFromConfig(r.tiers[t], false);
                if (!m) {
                    issue(&r, "rule '" + r.name + "' tier " + std::to_string(t + 1) + ": " + m.error().message());
                    continue;
                }
                out.tiers[t] = *m;
            }
            out.n_tiers = static_cast<uint8_t>(std::min<size_t>(r.tiers.size(), RL_MAX_TIERS));
            // meters over all sources of the rule: ceiling, admission, refused sources
            auto aggregate = [&](const std::optional<MeterConfig>& in, rl_meter& dst, const char* what) {
                if (!in) return false;
                auto g = meterFromConfig(*in, true);
                if (!g) {
                    issue(&r, "rule '" + r.name + "' " + what + ": " + g.error().message());
                    return false;
                }
                dst = *g;
                return true;
            };
            out.has_global = aggregate(r.global, out.global, "global") ? 1 : 0;
            aggregate(r.admit, out.admit, "admit");
            aggregate(r.unknown, out.unknown, "unknown");
            if (r.on_exceed == RL_EXCEED_BLOCK) {
                if (r.block_ns == 0) issue(&r, "rule '" + r.name + "': on_exceed block needs a block duration");
                out.block_ns = r.block_ns;
            }
        }
        if (!r.ports.empty() && (!r.proto || (*r.proto != IPPROTO_TCP && *r.proto != IPPROTO_UDP)))
            issue(&r, "rule '" + r.name + "': ports need protocol tcp or udp");
        for (const auto& p : r.ports)
            if (p.lo > p.hi) issue(&r, "rule '" + r.name + "': port range start above its end");

        // generation: unchanged unless the key state would be misread
        rl_rule_meta& meta = img.meta[id];
        meta = rl_rule_meta{};
        std::strncpy(meta.name, r.name.c_str(), RL_RULE_NAME_MAX - 1);
        uint64_t prev_gen = prev_ ? prev_->meta.size() > id ? prev_->meta[id].generation : 0 : 0;
        bool fresh = true;
        if (prev_) {
            auto it = prev_->ids.find(r.name);
            fresh = it == prev_->ids.end() || it->second != id || prev_->rules.size() <= id;
        }
        bool bump = fresh || stateIncompatible(prev_->rules[id], out);
        meta.generation = bump ? prev_gen + 1 : prev_gen;
        if (!fresh && prev_->meta.size() > id) meta.created_ns = prev_->meta[id].created_ns;
        out.generation = static_cast<uint32_t>(meta.generation);
    }

    // Key state is (rule, tier, prefix) -> words whose meaning depends on the
    // algorithm: a different algorithm or key prefix in any tier, or a different
    // number of tiers (a tier index may hold state from an older layout), needs
    // fresh state. Rates, bursts and limits may change freely: the state stays
    // meaningful. The global ceiling (rl_global, by rule id) is not versioned by
    // the generation; the daemon resets it when rl_rule.global changes.
    static bool stateIncompatible(const rl_rule& a, const rl_rule& b) {
        if (a.n_tiers != b.n_tiers) return true;
        for (unsigned t = 0; t < b.n_tiers && t < RL_MAX_TIERS; t++) {
            const rl_meter &x = a.tiers[t], &y = b.tiers[t];
            if (x.algo != y.algo || x.prefix_v4 != y.prefix_v4 || x.prefix_v6 != y.prefix_v6) return true;
        }
        return false;
    }

    // Freed ids keep their generation in rl_rulemeta (name empty), so a new rule
    // that later takes the id starts above it and never reads stale key state.
    void keepFreedSlots(RuleImage& img) {
        if (!prev_) return;
        for (uint32_t id = 0; id < RL_MAX_RULES && id < prev_->meta.size(); id++) {
            if (ruleOf_.count(id)) continue;
            img.meta[id] = rl_rule_meta{};
            img.meta[id].generation = prev_->meta[id].generation;
        }
    }

    std::vector<Cand> candidates(const RuleConfig& r, size_t order, uint16_t id) {
        std::vector<Cand> out;
        Cand c;
        c.rule = &r;
        c.order = order;
        c.m.rule_id = id;
        if (!r.ports.empty()) {
            for (const auto& p : r.ports) {
                c.cls = 0;
                c.m.flags = RL_RULE_F_PROTO | RL_RULE_F_PORTS;
                c.m.proto = r.proto.value_or(0);
                c.m.port_lo = p.lo;
                c.m.port_hi = p.hi;
                out.push_back(c);
            }
        } else if (r.proto) {
            c.cls = 1;
            c.m.flags = RL_RULE_F_PROTO;
            c.m.proto = *r.proto;
            out.push_back(c);
        } else {
            c.cls = 2;
            out.push_back(c);
        }
        return out;
    }

    void buildLpm(const std::vector<const RuleConfig*>& rules, RuleImage& img) {
        std::map<Cidr, CandList, CidrLess> own[2];  // [0] v4, [1] v6
        std::vector<Cidr> mgmt;
        for (size_t i = 0; i < rules.size(); i++) {
            const RuleConfig& r = *rules[i];
            if (&r == &default_) continue;  // the fast path's fallback
            auto idIt = img.ids.find(r.name);
            if (idIt == img.ids.end() || ruleOf_[idIt->second] != &r) continue;
            std::vector<Cidr> sources = r.sources;
            if (sources.empty()) {
                // no sources: every source of the families the protocol exists in
                Cidr any4, any6;
                any4.addr.family = 4;
                any6.addr.family = 6;
                if (!r.proto || *r.proto != IPPROTO_ICMPV6) sources.push_back(any4);
                if (!r.proto || *r.proto != IPPROTO_ICMP) sources.push_back(any6);
            }
            for (const auto& s : sources) {
                if (s.addr.family != 4 && s.addr.family != 6) {
                    issue(&r, "rule '" + r.name + "': source without an address family");
                    continue;
                }
                bool v6 = s.addr.family == 6;
                if (r.proto && ((*r.proto == IPPROTO_ICMP && v6) || (*r.proto == IPPROTO_ICMPV6 && !v6)))
                    issue(&r, "rule '" + r.name + "': protocol " + protoName(*r.proto) + " never matches source " +
                                  formatCidr(s));
                if (&r == &management_) {
                    mgmt.push_back(s);
                    own[v6].try_emplace(s);
                    continue;
                }
                auto cs = candidates(r, i, static_cast<uint16_t>(idIt->second));
                auto& list = own[v6][s];
                list.insert(list.end(), cs.begin(), cs.end());
            }
        }

        for (int fam = 0; fam < 2; fam++) {
            if (own[fam].size() > RL_LPM_MAX_ENTRIES) {
                issue(nullptr, std::to_string(own[fam].size()) + (fam ? " IPv6" : " IPv4") +
                                   " source prefixes; at most " + std::to_string(RL_LPM_MAX_ENTRIES) + " fit");
                continue;
            }
            std::map<Cidr, CandList, CidrLess> flat;
            // std::map orders by prefix length first: covering prefixes are done first
            for (auto& [cidr, list] : own[fam]) {
                std::stable_sort(list.begin(), list.end(), [](const Cand& a, const Cand& b) {
                    return std::tie(a.cls, a.order) < std::tie(b.cls, b.order);
                });
                checkShadowed(cidr, list);
                CandList full;
                bool managed = false;
                for (const auto& m : mgmt)
                    if (m.prefix_len <= cidr.prefix_len && cidrContains(m, cidr.addr)) managed = true;
                if (managed) {
                    for (const auto& c : list)
                        issue(c.rule, "rule '" + c.rule->name + "' never applies to source " + formatCidr(cidr) +
                                          ": it is inside management allow (always passed)");
                    Cand c;
                    c.rule = &management_;
                    c.m.rule_id = static_cast<uint16_t>(img.ids[kManagementRuleName]);
                    full.push_back(c);
                } else {
                    full = list;
                    if (const CandList* parent = nearestCovering(flat, cidr))
                        full.insert(full.end(), parent->begin(), parent->end());
                }
                flat[cidr] = finish(cidr, full);
            }
            for (const auto& [cidr, list] : flat) {
                rl_match_set set{};
                set.count = static_cast<uint32_t>(std::min<size_t>(list.size(), RL_MAX_MATCH));
                for (size_t i = 0; i < set.count; i++) set.m[i] = list[i].m;
                if (fam == 0) {
                    __be32 a;
                    std::memcpy(&a, cidr.addr.bytes.data(), 4);
                    img.lpm4[{cidr.prefix_len, a}] = set;
                } else {
                    img.lpm6[{cidr.prefix_len, cidr.addr.bytes}] = set;
                }
            }
        }
    }

    static const CandList* nearestCovering(const std::map<Cidr, CandList, CidrLess>& flat, const Cidr& c) {
        for (int len = static_cast<int>(c.prefix_len) - 1; len >= 0; len--) {
            Cidr q;
            q.prefix_len = static_cast<uint8_t>(len);
            q.addr = maskIp(c.addr, q.prefix_len);
            auto it = flat.find(q);
            if (it != flat.end()) return &it->second;
        }
        return nullptr;
    }

    // Drops duplicates and everything after an unconditional match (it can
    // never be reached), then enforces RL_MAX_MATCH.
    CandList finish(const Cidr& cidr, const CandList& in) {
        CandList out;
        for (const auto& c : in) {
            bool dup = std::any_of(out.begin(), out.end(), [&](const Cand& o) { return sameMatch(o.m, c.m); });
            if (dup) continue;
            out.push_back(c);
            if (!(c.m.flags & RL_RULE_F_PROTO)) break;
        }
        if (out.size() > RL_MAX_MATCH) {
            const Cand& cut = out[RL_MAX_MATCH];
            issue(cut.rule, "source " + formatCidr(cidr) + " has " + std::to_string(out.size()) +
                                " candidate matches (own rules plus those inherited from covering prefixes); "
                                "at most " + std::to_string(RL_MAX_MATCH) + " fit, so " + describe(cut) +
                                " would be cut off there (merge port ranges or rules)");
        }
        return out;
    }

    // At one prefix, a rule all of whose matches an earlier rule already takes
    // can never apply: almost always a mistake (a duplicate or a misordered rule).
    void checkShadowed(const Cidr& cidr, const CandList& list) {
        std::set<const RuleConfig*> rules;
        for (const auto& c : list) rules.insert(c.rule);
        for (const RuleConfig* r : rules) {
            bool all = true;
            const RuleConfig* by = nullptr;
            for (size_t i = 0; i < list.size() && all; i++) {
                if (list[i].rule != r) continue;
                bool covered = false;
                for (size_t j = 0; j < i; j++) {
                    if (list[j].rule != r && covers(list[j].m, list[i].m)) {
                        covered = true;
                        by = list[j].rule;
                        break;
                    }
                }
                all = covered;
            }
            if (all && by)
                issue(r, "rule '" + r->name + "' never applies to source " + formatCidr(cidr) + ": rule '" +
                             by->name + "'" + at(*by) + " matches the same packets first");
        }
    }

    void buildCfg(RuleImage& img) {
        rl_config& c = img.cfg;
        c = rl_config{};
        c.abi_version = RL_ABI_VERSION;
        if (cfg_.l2_bytes) c.flags |= RL_CFG_F_L2_BYTES;
        if (!cfg_.refusal_cache) c.flags |= RL_CFG_F_NO_DCACHE;
        std::vector<std::pair<uint32_t, std::array<uint8_t, 4>>> v4;
        std::vector<std::pair<uint32_t, std::array<uint8_t, 16>>> v6;
        for (const auto& [k, set] : img.lpm4) {
            std::array<uint8_t, 4> a;
            std::memcpy(a.data(), &k.second, 4);
            v4.push_back({k.first, a});
        }
        for (const auto& [k, set] : img.lpm6) v6.push_back(k);
        img.hint = buildLpmHint(v4, v6);
        if (img.hint.v4) c.flags |= RL_CFG_F_HINT4;
        if (img.hint.v6) c.flags |= RL_CFG_F_HINT6;
        for (const auto& r : img.rules)
            if (r.action == RL_ACT_LIMIT && r.on_exceed == RL_EXCEED_BLOCK) c.flags |= RL_CFG_F_BLOCKS;
        if (cfg_.new_keys_empty) c.flags |= RL_CFG_F_NEW_EMPTY;
        if (cfg_.new_keys_empty_under_pressure) c.flags |= RL_CFG_F_NEW_EMPTY_PRESSURE;
        c.malformed_verdict = static_cast<uint8_t>(cfg_.malformed_verdict);
        c.state_full_verdict = static_cast<uint8_t>(cfg_.state_full_verdict);
        c.talker_shift = cfg_.talker_shift;
        c.event_rate = cfg_.event_rate;
        c.event_burst = cfg_.event_burst;
    }

    const Config& cfg_;
    const RuleImage* prev_;
    std::vector<CompileIssue>& issues_;
    RuleConfig default_;
    RuleConfig management_;
    std::map<uint32_t, const RuleConfig*> ruleOf_;
};

}  // namespace

Result<rl_meter> meterFromConfig(const MeterConfig& m, bool global) {
    Result<rl_meter> built = invalid("meter", "unknown algorithm");
    switch (m.algo) {
    case RL_ALGO_TOKEN_BUCKET: {
        TokenBucketSpec s;
        s.packets = m.packets;
        s.burst_packets = m.burst_packets ? m.burst_packets : defaultBurst(m.packets);
        s.bytes = m.bytes;
        s.burst_bytes = m.burst_bytes ? m.burst_bytes : defaultBurst(m.bytes);
        if (global && m.bytes.count) return invalid("global", "the global ceiling counts packets only");
        built = tokenBucketMeter(s);
        break;
    }
    case RL_ALGO_GCRA: {
        GcraSpec s;
        s.packets = m.packets;
        s.burst = m.burst_packets ? m.burst_packets : defaultBurst(m.packets);
        built = gcraMeter(s);
        break;
    }
    case RL_ALGO_SLIDING_WINDOW:
    case RL_ALGO_FIXED_WINDOW: {
        if (global) return invalid("global", "the global ceiling is a token_bucket or gcra");
        WindowSpec s;
        s.sliding = m.algo == RL_ALGO_SLIDING_WINDOW;
        s.limit = m.window_limit;
        s.window_ns = m.window_ns;
        built = windowMeter(s);
        break;
    }
    default:
        break;
    }
    if (!built) return built;
    if (!global) {
        if (m.prefix_v4 > 32) return invalid("key", "ipv4_prefix must be 0-32");
        if (m.prefix_v6 > 128) return invalid("key", "ipv6_prefix must be 0-128");
        built->prefix_v4 = m.prefix_v4;
        built->prefix_v6 = m.prefix_v6;
    }
    return built;
}

std::vector<CompileIssue> checkRules(const Config& config) {
    std::vector<CompileIssue> issues;
    Builder(config, nullptr, issues).build();
    return issues;
}

namespace {

template <typename T>
bool sameBytes(const T& a, const T& b) {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <typename Key>
void diffLpm(const std::map<Key, rl_match_set>* before, const std::map<Key, rl_match_set>& after,
             std::vector<Key>& upsert, std::vector<Key>& del) {
    for (const auto& [k, v] : after) {
        const rl_match_set* old = nullptr;
        if (before)
            if (auto it = before->find(k); it != before->end()) old = &it->second;
        if (!old || !sameBytes(*old, v)) upsert.push_back(k);
    }
    if (before)
        for (const auto& [k, v] : *before)
            if (!after.count(k)) del.push_back(k);
}

}  // namespace

ImageDiff diffImages(const RuleImage* previous, const RuleImage& next) {
    ImageDiff d;
    std::set<uint32_t> used_before, used_now;
    if (previous)
        for (const auto& [n, id] : previous->ids) used_before.insert(id);
    for (const auto& [n, id] : next.ids) used_now.insert(id);
    for (uint32_t id = 0; id < next.rules.size(); id++) {
        bool had = previous && id < previous->rules.size();
        if (used_now.count(id)) {
            if (!had || !used_before.count(id) || !sameBytes(previous->rules[id], next.rules[id])) d.rules.push_back(id);
        } else if (used_before.count(id)) {
            d.freed.push_back(id);
        }
        if (id < next.meta.size() && (!previous || id >= previous->meta.size() || !sameBytes(previous->meta[id], next.meta[id])))
            d.meta.push_back(id);
    }
    diffLpm(previous ? &previous->lpm4 : nullptr, next.lpm4, d.lpm4_upsert, d.lpm4_delete);
    diffLpm(previous ? &previous->lpm6 : nullptr, next.lpm6, d.lpm6_upsert, d.lpm6_delete);
    d.cfg = !previous || !sameBytes(previous->cfg, next.cfg);
    return d;
}

Result<RuleImage> compileRules(const Config& config, const RuleImage* previous) {
    std::vector<CompileIssue> issues;
    RuleImage img = Builder(config, previous, issues).build();
    if (!issues.empty()) {
        std::string msg;
        for (size_t i = 0; i < issues.size(); i++) {
            if (i) msg += "; ";
            msg += issues[i].message;
            if (issues[i].where.line) msg += " (line " + std::to_string(issues[i].where.line) + ")";
        }
        return invalid("compile rules", msg);
    }
    return img;
}

}  // namespace ratelimit
