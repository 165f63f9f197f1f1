// Control protocol commands (docs/protocol.md), executed on the daemon's state.
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "app/daemon.hpp"
#include "app/views.hpp"
#include "util/log.hpp"

namespace ratelimit {
namespace {

using namespace views;

// Parses an optional non-negative integer argument.
bool uintArg(const Json& args, const char* name, uint64_t def, uint64_t* out) {
    if (!args.contains(name) || args[name].is_null()) {
        *out = def;
        return true;
    }
    if (!args[name].is_number_unsigned() && !(args[name].is_number_integer() && args[name].get<int64_t>() >= 0))
        return false;
    *out = args[name].get<uint64_t>();
    return true;
}

}  // namespace

namespace {
Daemon::CmdResult ok(Json j) { return Daemon::CmdResult(std::in_place_index<0>, std::move(j)); }
}  // namespace

#define RL_ERR(code, msg) Daemon::CmdResult(std::in_place_index<1>, Daemon::CmdError{code, msg})

void Daemon::onRequest(ConnId conn, const Peer& peer, const Request& req) {
    static const std::set<std::string> mutating = {"rules.add", "rules.delete", "acl.add", "acl.remove",
                                                   "reload",    "attach",       "detach"};
    if (mutating.count(req.cmd) && !peerMayChange(peer)) {
        RL_LOG_WARN("control: %s refused for uid %u (pid %d): not root nor in control group", req.cmd.c_str(),
                    peer.uid, peer.pid);
        server_->replyError(conn, req.id, "EPERM",
                            req.cmd + ": uid " + std::to_string(peer.uid) +
                                " may not change things (root or control group '" + config_.control_group + "' only)");
        return;
    }
    CmdResult r = RL_ERR("ENOTSUP", "unknown command '" + req.cmd + "'");
    try {
        if (req.cmd == "status") r = cmdStatus();
        else if (req.cmd == "rules.list") r = cmdRulesList();
        else if (req.cmd == "rules.add") r = cmdRulesAdd(req.args);
        else if (req.cmd == "rules.delete") r = cmdRulesDelete(req.args);
        else if (req.cmd == "acl.add") r = cmdAclAdd(req.args);
        else if (req.cmd == "acl.remove") r = cmdAclRemove(req.args);
        else if (req.cmd == "acl.list") r = cmdAclList();
        else if (req.cmd == "keys.show") r = cmdKeysShow(req.args);
        else if (req.cmd == "top") r = cmdTop(req.args);
        else if (req.cmd == "stats") r = cmdStats();
        else if (req.cmd == "reload") r = cmdReload(req.args);
        else if (req.cmd == "config.check") r = cmdConfigCheck(req.args, peer);
        else if (req.cmd == "attach") r = cmdAttach(req.args);
        else if (req.cmd == "detach") r = cmdDetach(req.args);
        else if (req.cmd == "top.subscribe" || req.cmd == "stats.subscribe" || req.cmd == "events.subscribe") {
            r = subscribe(conn, req);
            if (r.index() == 0) return;  // stream started
        }
    } catch (const std::exception& e) {
        // nlohmann type errors on malformed args end up here
        r = RL_ERR("EINVAL", req.cmd + ": " + e.what());
    }
    if (r.index() == 0)
        server_->reply(conn, req.id, std::get<0>(r));
    else
        server_->replyError(conn, req.id, std::get<1>(r).code, std::get<1>(r).message);
}

void Daemon::onStreamEnd(ConnId conn) { subs_.erase(conn); }

// streamData() may close a connection, and closing ends its subscription
// (onStreamEnd erases it from subs_): loops that stream iterate over a copy
// of the ids, never over subs_ itself (that was a use-after-free when a
// client vanished mid-stream: tests/integration/test_fault_client_disconnect.sh).
std::vector<ConnId> Daemon::subscribers() const {
    std::vector<ConnId> ids;
    ids.reserve(subs_.size());
    for (const auto& e : subs_) ids.push_back(e.first);
    return ids;
}

Daemon::CmdResult Daemon::cmdStatus() {
    Json ifs = Json::array();
    for (const auto& a : loader_->attachments())
        ifs.push_back(Json{{"name", a.name},
                           {"ifindex", a.ifindex},
                           {"mode", a.mode},
                           {"prog_id", a.prog_id},
                           {"attached", a.attached},
                           {"adopted", a.adopted}});
    Json counters = Json::object();
    if (auto cells = maps_->readStats()) {
        for (unsigned r = 0; r < RL_REASON__MAX; ++r) {
            uint64_t p = 0, b = 0;
            for (unsigned id = 0; id <= RL_MAX_RULES; ++id) {
                p += (*cells)[id * RL_REASON__MAX + r].packets;
                b += (*cells)[id * RL_REASON__MAX + r].bytes;
            }
            counters[kReasonNames[r]] = Json{{"packets", p}, {"bytes", b}};
        }
    }
    auto v4 = maps_->countState4();
    auto v6 = maps_->countState6();
    auto b4 = maps_->countBlock4();
    auto b6 = maps_->countBlock6();
    return ok(Json{{"version", RL_VERSION},
                   {"abi_version", RL_ABI_VERSION},
                   {"pid", getpid()},
                   {"uptime_s", static_cast<double>(nowNs() - start_ns_) / 1e9},
                   {"generation", generation_},
                   {"config_path", config_from_file_ ? Json(config_path_) : Json(nullptr)},
                   {"config_source", config_from_file_ ? "file" : "builtin"},
                   {"pin_path", config_.pin_path},
                   {"prog_id", loader_->progId()},
                   {"state_reused", loader_->reusedState()},
                   {"interfaces", ifs},
                   {"counters", counters},
                   {"keys",
                    Json{{"v4", v4 ? *v4 : 0},
                         {"v6", v6 ? *v6 : 0},
                         {"capacity_v4", maps_->capacityState4()},
                         {"capacity_v6", maps_->capacityState6()},
                         {"blocked_v4", b4 ? *b4 : 0},
                         {"blocked_v6", b6 ? *b6 : 0}}},
                   {"rules", image_.ids.size()},
                   {"reloads", Json{{"ok", reloads_ok_}, {"failed", reloads_failed_}, {"last_error", last_reload_error_}}},
                   {"multiprog", loader_->multiprogAvailable()}});
}

Daemon::CmdResult Daemon::cmdRulesList() {
    Json rules = Json::array();
    auto idOf = [&](const std::string& n) -> uint32_t {
        auto it = image_.ids.find(n);
        return it == image_.ids.end() ? RL_RULE_NONE : it->second;
    };
    std::set<std::string> acl_names;
    for (const auto& e : acl_) acl_names.insert(e.name);
    RuleConfig def = config_.default_rule;
    if (def.name.empty()) def.name = "default";
    rules.push_back(ruleJson(def, RL_RULE_DEFAULT, "config"));
    for (const auto& r : merged().rules) {
        bool runtime = acl_names.count(r.name) ||
                       std::any_of(runtime_rules_.begin(), runtime_rules_.end(),
                                   [&](const RuleConfig& x) { return x.name == r.name; });
        rules.push_back(ruleJson(r, idOf(r.name), runtime ? "runtime" : "config"));
    }
    return ok(Json{{"rules", rules}, {"generation", generation_}});
}

// Applies merged() after a runtime change; the caller restores state on error.
Daemon::CmdResult Daemon::applyRuntimeChange(const std::string& what) {
    auto g = apply(merged());
    if (!g) return RL_ERR(g.error().err ? "EIO" : "EINVAL", what + ": " + g.error().message());
    return ok(Json{{"generation", *g}});
}

Daemon::CmdResult Daemon::cmdRulesAdd(const Json& args) {
    if (!args.contains("rule") || !args["rule"].is_object())
        return RL_ERR("EINVAL", "rules.add: argument 'rule' (object in the YAML rule schema) is required");
    // JSON is YAML: let the config parser validate the rule exactly as in a file.
    std::string text = "rules:\n  - " + args["rule"].dump() + "\n";
    ParseOutcome out = parseConfigText(text);
    if (!out.errors.empty() || !out.config || out.config->rules.size() != 1) {
        std::string msg = "rules.add: invalid rule";
        for (const auto& e : out.errors) msg += "; " + e.message;
        return RL_ERR("EINVAL", msg);
    }
    RuleConfig rule = out.config->rules.front();
    rule.where = {};
    Config m = merged();
    if (rule.name == "default" || std::any_of(m.rules.begin(), m.rules.end(),
                                              [&](const RuleConfig& r) { return r.name == rule.name; }))
        return RL_ERR("EEXIST", "rules.add: a rule named '" + rule.name + "' exists");
    runtime_rules_.push_back(rule);
    auto r = applyRuntimeChange("rules.add");
    if (r.index() != 0) {
        runtime_rules_.pop_back();
        return r;
    }
    RL_LOG_INFO("rules.add: %s", rule.name.c_str());
    return ok(Json{{"id", image_.ids[rule.name]}, {"generation", generation_}});
}

Daemon::CmdResult Daemon::cmdRulesDelete(const Json& args) {
    if (!args.contains("name") || !args["name"].is_string())
        return RL_ERR("EINVAL", "rules.delete: argument 'name' (string) is required");
    std::string name = args["name"];
    if (name == "default") return RL_ERR("EINVAL", "rules.delete: the default rule cannot be deleted");
    auto rt = std::find_if(runtime_rules_.begin(), runtime_rules_.end(),
                           [&](const RuleConfig& r) { return r.name == name; });
    if (rt != runtime_rules_.end()) {
        RuleConfig saved = *rt;
        size_t pos = static_cast<size_t>(rt - runtime_rules_.begin());
        runtime_rules_.erase(rt);
        auto r = applyRuntimeChange("rules.delete");
        if (r.index() != 0) runtime_rules_.insert(runtime_rules_.begin() + static_cast<long>(pos), saved);
        return r;
    }
    bool in_config = std::any_of(config_.rules.begin(), config_.rules.end(),
                                 [&](const RuleConfig& r) { return r.name == name; });
    if (!in_config || deleted_rules_.count(name)) {
        for (const auto& e : acl_)
            if (e.name == name) return RL_ERR("EINVAL", "rules.delete: '" + name + "' is an ACL entry: use acl.remove");
        return RL_ERR("ENOENT", "rules.delete: no rule named '" + name + "'");
    }
    deleted_rules_.insert(name);
    auto r = applyRuntimeChange("rules.delete");
    if (r.index() != 0) deleted_rules_.erase(name);
    else RL_LOG_INFO("rules.delete: %s (until the next reload)", name.c_str());
    return r;
}

namespace {
std::string aclRuleName(const std::string& list, const Cidr& c) {
    std::string s = "acl-" + list + "-" + formatCidr(c);
    for (char& ch : s)
        if (ch == ':' || ch == '/') ch = '_';
    return s.substr(0, RL_RULE_NAME_MAX - 1);
}
}  // namespace

Daemon::CmdResult Daemon::cmdAclAdd(const Json& args) {
    if (!args.contains("list") || !args["list"].is_string() ||
        (args["list"] != "allow" && args["list"] != "deny"))
        return RL_ERR("EINVAL", "acl.add: argument 'list' must be \"allow\" or \"deny\"");
    if (!args.contains("cidr") || !args["cidr"].is_string())
        return RL_ERR("EINVAL", "acl.add: argument 'cidr' (string) is required");
    auto cidr = parseCidr(args["cidr"].get<std::string>());
    if (!cidr) return RL_ERR("EINVAL", "acl.add: cidr: " + cidr.error().message());
    uint64_t ttl = 0;
    if (!uintArg(args, "ttl_s", 0, &ttl)) return RL_ERR("EINVAL", "acl.add: ttl_s must be a non-negative integer");
    std::string list = args["list"];
    AclEntry e{list, *cidr, ttl ? nowNs() + ttl * RL_NSEC_PER_SEC : 0, aclRuleName(list, *cidr)};
    auto saved = acl_;
    bool replaced = false;
    for (auto& x : acl_)
        if (x.list == list && x.cidr == *cidr) {
            x = e;  // re-adding refreshes the TTL
            replaced = true;
        }
    if (!replaced) {
        // an address is either allowed or denied: a new entry replaces one in the other list
        std::erase_if(acl_, [&](const AclEntry& x) { return x.cidr == *cidr; });
        acl_.insert(acl_.begin(), e);
    }
    auto r = applyRuntimeChange("acl.add");
    if (r.index() != 0) {
        acl_ = saved;
        return r;
    }
    RL_LOG_INFO("acl.add: %s %s ttl %lus", list.c_str(), formatCidr(*cidr).c_str(), static_cast<unsigned long>(ttl));
    // expires_at: wall-clock seconds since the epoch (0 = never)
    double expires_at = ttl ? static_cast<double>(time(nullptr) + static_cast<time_t>(ttl)) : 0.0;
    return ok(Json{{"name", e.name}, {"expires_at", expires_at}, {"generation", generation_}});
}

Daemon::CmdResult Daemon::cmdAclRemove(const Json& args) {
    if (!args.contains("cidr") || !args["cidr"].is_string())
        return RL_ERR("EINVAL", "acl.remove: argument 'cidr' (string) is required");
    auto cidr = parseCidr(args["cidr"].get<std::string>());
    if (!cidr) return RL_ERR("EINVAL", "acl.remove: cidr: " + cidr.error().message());
    std::string list = args.contains("list") && args["list"].is_string() ? args["list"].get<std::string>() : "";
    if (!list.empty() && list != "allow" && list != "deny")
        return RL_ERR("EINVAL", "acl.remove: argument 'list' must be \"allow\" or \"deny\"");
    auto saved = acl_;
    size_t n = std::erase_if(acl_, [&](const AclEntry& x) { return x.cidr == *cidr && (list.empty() || x.list == list); });
    if (n == 0) return RL_ERR("ENOENT", "acl.remove: " + formatCidr(*cidr) + " is not in the " + (list.empty() ? "acl" : list + " list"));
    auto r = applyRuntimeChange("acl.remove");
    if (r.index() != 0) {
        acl_ = saved;
        return r;
    }
    return ok(Json::object());
}

Daemon::CmdResult Daemon::cmdAclList() {
    Json entries = Json::array();
    uint64_t now = nowNs();
    for (const auto& e : acl_)
        entries.push_back(Json{{"list", e.list},
                               {"cidr", formatCidr(e.cidr)},
                               {"name", e.name},
                               {"expires_in_s", e.expires_ns ? Json(static_cast<double>(e.expires_ns - std::min(now, e.expires_ns)) / 1e9)
                                                             : Json(0)}});
    return ok(Json{{"entries", entries}});
}

Daemon::CmdResult Daemon::cmdKeysShow(const Json& args) {
    if (!args.contains("ip") || !args["ip"].is_string())
        return RL_ERR("EINVAL", "keys.show: argument 'ip' (string) is required");
    auto ip = parseIp(args["ip"].get<std::string>());
    if (!ip) return RL_ERR("EINVAL", "keys.show: ip: " + ip.error().message());
    // The rules a packet from ip can reach: the LPM candidates in precedence
    // order up to the first one without protocol/port narrowing, else default.
    std::optional<rl_match_set> set;
    if (ip->family == 4) {
        __be32 a;
        std::memcpy(&a, ip->bytes.data(), 4);
        set = maps_->matchLpm4(a);
    } else {
        set = maps_->matchLpm6(ip->bytes);
    }
    std::vector<uint32_t> rule_ids;
    bool terminal = false;
    if (set)
        for (uint32_t i = 0; i < set->count && i < RL_MAX_MATCH; ++i) {
            uint32_t id = set->m[i].rule_id;
            if (id >= RL_MAX_RULES) continue;
            if (std::find(rule_ids.begin(), rule_ids.end(), id) == rule_ids.end()) rule_ids.push_back(id);
            if (set->m[i].flags == 0) {
                terminal = true;
                break;
            }
        }
    if (!terminal && std::find(rule_ids.begin(), rule_ids.end(), RL_RULE_DEFAULT) == rule_ids.end())
        rule_ids.push_back(RL_RULE_DEFAULT);

    uint64_t now = nowNs();
    Json keys = Json::array();
    Json matched = Json::array();
    for (uint32_t id : rule_ids) {
        auto rule = maps_->readRule(id);
        if (!rule) continue;
        matched.push_back(Json{{"rule", ruleName(id)}, {"rule_id", id}, {"action", actionName(rule->action)}});
        if (rule->action != RL_ACT_LIMIT) continue;
        for (uint32_t t = 0; t < rule->n_tiers && t < RL_MAX_TIERS; ++t) {
            const rl_meter& m = rule->tiers[t];
            uint8_t plen = ip->family == 4 ? std::min<uint8_t>(m.prefix_v4, 32) : std::min<uint8_t>(m.prefix_v6, 128);
            IpAddr masked = maskIp(*ip, plen);
            std::optional<rl_state> st;
            std::optional<rl_block> blk;
            if (ip->family == 4) {
                rl_key4 k{};
                std::memcpy(&k.addr, masked.bytes.data(), 4);
                k.rule_id = static_cast<__u16>(id);
                k.tier = static_cast<__u8>(t);
                k.prefix_len = plen;
                st = maps_->lookupState4(k);
                blk = maps_->lookupBlock4(k);
            } else {
                rl_key6 k{};
                std::memcpy(k.addr, masked.bytes.data(), 16);
                k.rule_id = static_cast<__u16>(id);
                k.tier = static_cast<__u8>(t);
                k.prefix_len = plen;
                st = maps_->lookupState6(k);
                blk = maps_->lookupBlock6(k);
            }
            Json entry{{"rule", ruleName(id)},
                       {"rule_id", id},
                       {"tier", t},
                       {"family", ip->family},
                       {"prefix", formatIp(masked) + "/" + std::to_string(plen)},
                       {"algo", algoName(m.algo)},
                       {"present", st.has_value()}};
            if (st) {
                entry["state"] = stateJson(m, *st, rule->generation, now);
                entry["last_seen_ago_s"] = lastSeenAgoS(st->seen, now);
            } else {
                entry["state"] = nullptr;
                entry["last_seen_ago_s"] = nullptr;
            }
            if (blk && blk->until_ns > now)
                entry["blocked_until_in_s"] = static_cast<double>(blk->until_ns - now) / 1e9;
            else
                entry["blocked_until_in_s"] = nullptr;
            keys.push_back(entry);
        }
    }
    return ok(Json{{"ip", formatIp(*ip)}, {"rules", matched}, {"keys", keys}});
}

Json Daemon::topJson(const std::map<std::string, TalkerSample>& prev, uint64_t prev_ns,
                     const std::map<std::string, TalkerSample>& cur, uint64_t cur_ns, size_t n,
                     const std::string& sort) const {
    double dt = cur_ns > prev_ns && prev_ns ? static_cast<double>(cur_ns - prev_ns) / 1e9 : 0.0;
    auto cfg = maps_->readConfig();
    double scale = cfg ? static_cast<double>(1ull << (cfg->talker_shift & 31)) : 1.0;
    struct Row {
        const TalkerSample* s;
        double pps, dps, bps;
    };
    std::vector<Row> rows;
    for (const auto& [k, s] : cur) {
        auto it = prev.find(k);
        uint64_t p0 = 0, b0 = 0, d0 = 0;
        if (it != prev.end() && it->second.packets <= s.packets) {
            p0 = it->second.packets;
            b0 = it->second.bytes;
            d0 = it->second.dropped;
        }
        if (dt <= 0) continue;
        Row r{&s, (s.packets - p0) * scale / dt, (s.dropped - std::min(d0, s.dropped)) * scale / dt,
              (s.bytes - std::min(b0, s.bytes)) * scale / dt};
        if (r.pps == 0 && r.dps == 0) continue;
        rows.push_back(r);
    }
    auto keyf = [&](const Row& r) { return sort == "packets" ? r.pps : sort == "bytes" ? r.bps : r.dps; };
    std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
        if (keyf(a) != keyf(b)) return keyf(a) > keyf(b);
        return a.pps > b.pps;
    });
    Json talkers = Json::array();
    for (size_t i = 0; i < rows.size() && i < n; ++i) {
        const auto& r = rows[i];
        talkers.push_back(Json{{"addr", formatIp(talkerAddr(r.s->key))},
                               {"family", r.s->key.family},
                               {"rule", ruleName(r.s->rule_id)},
                               {"rule_id", r.s->rule_id},
                               {"pps", r.pps},
                               {"drops_ps", r.dps},
                               {"bps", r.bps}});
    }
    return Json{{"talkers", talkers}, {"interval_s", dt}, {"sample_scale", scale}};
}

Daemon::CmdResult Daemon::cmdTop(const Json& args) {
    uint64_t n;
    if (!uintArg(args, "n", 20, &n) || n == 0) return RL_ERR("EINVAL", "top: n must be a positive integer");
    std::string sort = args.contains("sort") && args["sort"].is_string() ? args["sort"].get<std::string>() : "drops";
    if (sort != "drops" && sort != "packets" && sort != "bytes")
        return RL_ERR("EINVAL", "top: sort must be drops, packets or bytes");
    // Rates between the last periodic snapshot and now (the periodic snapshot
    // is at most ~1 s old); never scans the state maps.
    auto base = talk_cur_;
    uint64_t base_ns = talk_cur_ns_;
    if (nowNs() - base_ns < 200'000'000 && talk_prev_ns_) {
        base = talk_prev_;
        base_ns = talk_prev_ns_;
    }
    auto t = maps_->readTalkers();
    if (!t) return RL_ERR("EIO", "top: " + t.error().message());
    std::map<std::string, TalkerSample> cur;
    for (auto& s : *t) cur[keyOf(s.key)] = s;
    return ok(topJson(base, base_ns, cur, nowNs(), n, sort));
}

Json Daemon::statsJson(const std::vector<rl_counter>& cells, const std::vector<uint64_t>& global) const {
    Json rules = Json::array();
    std::vector<uint32_t> ids;
    for (const auto& [name, id] : image_.ids) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    ids.push_back(RL_RULE_NONE);
    for (uint32_t id : ids) {
        Json reasons = Json::object();
        for (unsigned r = 0; r < RL_REASON__MAX; ++r) {
            const rl_counter& c = cells[id * RL_REASON__MAX + r];
            reasons[kReasonNames[r]] = Json{{"packets", c.packets}, {"bytes", c.bytes}};
        }
        rules.push_back(Json{{"id", id}, {"name", ruleName(id)}, {"reasons", reasons}});
    }
    Json g = Json::object();
    for (unsigned i = 0; i < RL_GC__MAX && i < global.size(); ++i) g[kGcNames[i]] = global[i];
    return Json{{"rules", rules}, {"global", g}};
}

Daemon::CmdResult Daemon::cmdStats() {
    auto cells = maps_->readStats();
    if (!cells) return RL_ERR("EIO", "stats: " + cells.error().message());
    auto g = maps_->readGlobalCounters();
    if (!g) return RL_ERR("EIO", "stats: " + g.error().message());
    return ok(statsJson(*cells, *g));
}

Daemon::CmdResult Daemon::cmdReload(const Json& args) {
    std::string path = config_path_;
    if (args.contains("path")) {
        if (!args["path"].is_string()) return RL_ERR("EINVAL", "reload: path must be a string");
        path = args["path"];
    }
    bool force = false;  // apply even if a detected SSH client would be left unprotected
    if (args.contains("force")) {
        if (!args["force"].is_boolean()) return RL_ERR("EINVAL", "reload: force must be a boolean");
        force = args["force"];
    }
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lu", static_cast<unsigned long>(nowNs() / 1000));
    std::vector<ConfigError> errors;
    auto g = reload(path, &errors, force);
    sd_notify(0, "READY=1");
    notifyStatus();
    if (!g) {
        std::string msg = g.error().message();
        for (const auto& e : errors)
            msg += "\n" + path + ":" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": " + e.message;
        return RL_ERR("EINVAL", msg);
    }
    return ok(Json{{"generation", *g}});
}

Daemon::CmdResult Daemon::cmdConfigCheck(const Json& args, const Peer& peer) {
    ParseOutcome out;
    if (args.contains("text") && args["text"].is_string()) {
        out = parseConfigText(args["text"].get<std::string>());
    } else if (args.contains("path") && args["path"].is_string()) {
        std::string p = args["path"];
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0 || access(p.c_str(), R_OK) != 0)
            return RL_ERR("ENOENT", "config.check: cannot read " + p + ": " + strerror(errno));
        // Error messages quote file contents: an unprivileged peer may only
        // have files checked that it could read itself.
        bool peer_reads = (st.st_mode & S_IROTH) || (st.st_uid == peer.uid && (st.st_mode & S_IRUSR)) ||
                          (st.st_gid == peer.gid && (st.st_mode & S_IRGRP));
        if (!peer_reads && !peerMayChange(peer))
            return RL_ERR("EPERM", "config.check: uid " + std::to_string(peer.uid) + " may not read " + p +
                                       "; send the text instead");
        out = parseConfigFile(p);
    } else {
        return RL_ERR("EINVAL", "config.check: argument 'path' or 'text' (string) is required");
    }
    Json errs = Json::array();
    for (const auto& e : out.errors) errs.push_back(Json{{"line", e.line}, {"column", e.column}, {"message", e.message}});
    if (out.errors.empty() && out.config) {
        auto img = compileRules(*out.config, nullptr);
        if (!img) errs.push_back(Json{{"line", 0}, {"column", 0}, {"message", img.error().message()}});
    } else if (out.errors.empty()) {
        errs.push_back(Json{{"line", 0}, {"column", 0}, {"message", "invalid configuration"}});
    }
    return ok(Json{{"valid", errs.empty()}, {"errors", errs}});
}

Daemon::CmdResult Daemon::cmdAttach(const Json& args) {
    if (!args.contains("interface") || !args["interface"].is_string())
        return RL_ERR("EINVAL", "attach: argument 'interface' (string) is required");
    std::string mode_s = args.contains("mode") && args["mode"].is_string() ? args["mode"].get<std::string>() : "auto";
    auto mode = parseXdpMode(mode_s);
    if (!mode) return RL_ERR("EINVAL", "attach: " + mode.error().message());
    auto a = loader_->attach(args["interface"], *mode);
    if (!a) {
        const Error& e = a.error();
        return RL_ERR(e.err == ENOENT ? "ENOENT" : e.err == EEXIST ? "EEXIST" : "EIO", "attach: " + e.message());
    }
    if (auto s = loader_->pinProgram(); !s) RL_LOG_WARN("%s", s.error().message().c_str());
    notifyStatus();
    return ok(Json{{"ifindex", a->ifindex}, {"mode", a->mode}, {"prog_id", a->prog_id}, {"adopted", a->adopted}});
}

Daemon::CmdResult Daemon::cmdDetach(const Json& args) {
    if (args.contains("all") && args["all"].is_boolean() && args["all"].get<bool>()) {
        if (auto s = loader_->detachAllAndUnpin(); !s) return RL_ERR("EIO", "detach: " + s.error().message());
        RL_LOG_WARN("detach all: program detached everywhere and all pinned state removed; "
                    "the daemon keeps running without enforcement");
        notifyStatus();
        return ok(Json::object());
    }
    if (!args.contains("interface") || !args["interface"].is_string())
        return RL_ERR("EINVAL", "detach: argument 'interface' (string) or 'all': true is required");
    if (auto s = loader_->detach(args["interface"]); !s) {
        const Error& e = s.error();
        return RL_ERR(e.err == ENOENT ? "ENOENT" : e.err == EEXIST ? "EINVAL" : "EIO", "detach: " + e.message());
    }
    notifyStatus();
    return ok(Json::object());
}

Daemon::CmdResult Daemon::subscribe(ConnId conn, const Request& req) {
    Subscription s;
    s.id = req.id;
    uint64_t interval_ms;
    if (!uintArg(req.args, "interval_ms", 1000, &interval_ms) || interval_ms < 100 || interval_ms > 3'600'000)
        return RL_ERR("EINVAL", req.cmd + ": interval_ms must be between 100 and 3600000");
    s.interval_ns = interval_ms * 1'000'000;
    uint64_t now = nowNs();
    if (req.cmd == "events.subscribe") {
        s.kind = Subscription::Events;
    } else if (req.cmd == "top.subscribe") {
        s.kind = Subscription::Top;
        uint64_t n;
        if (!uintArg(req.args, "n", 20, &n) || n == 0) return RL_ERR("EINVAL", "top.subscribe: n must be positive");
        s.n = n;
        s.sort = req.args.contains("sort") && req.args["sort"].is_string() ? req.args["sort"].get<std::string>() : "drops";
        if (s.sort != "drops" && s.sort != "packets" && s.sort != "bytes")
            return RL_ERR("EINVAL", "top.subscribe: sort must be drops, packets or bytes");
        auto t = maps_->readTalkers();
        if (t)
            for (auto& x : *t) s.last_talkers[keyOf(x.key)] = x;
        s.last_ns = now;
    } else {
        s.kind = Subscription::Stats;
        auto cells = maps_->readStats();
        auto g = maps_->readGlobalCounters();
        if (!cells || !g) return RL_ERR("EIO", "stats.subscribe: cannot read counters");
        s.last_stats = *cells;
        s.last_global = *g;
        s.last_ns = now;
    }
    s.next_ns = now + s.interval_ns;
    subs_[conn] = s;
    server_->startStream(conn, req.id);
    if (!server_->alive(conn)) subs_.erase(conn);
    return ok(Json::object());
}

void Daemon::pushStreams(uint64_t now) {
    std::vector<ConnId> gone;
    std::optional<std::vector<rl_counter>> cells;
    std::optional<std::vector<uint64_t>> global;
    std::optional<std::map<std::string, TalkerSample>> talkers;
    for (ConnId conn : subscribers()) {
        auto it = subs_.find(conn);
        if (it == subs_.end()) continue;
        Subscription& s = it->second;
        if (s.kind == Subscription::Events || now < s.next_ns) continue;
        s.next_ns = now + s.interval_ns;
        Json data;
        double dt = static_cast<double>(now - s.last_ns) / 1e9;
        if (s.kind == Subscription::Stats) {
            if (!cells) {
                auto c = maps_->readStats();
                auto g = maps_->readGlobalCounters();
                if (!c || !g) continue;
                cells = *c;
                global = *g;
            }
            data = statsJson(*cells, *global);
            Json rates = Json::array();
            for (const auto& r : data["rules"]) {
                uint32_t id = r["id"];
                Json reasons = Json::object();
                for (unsigned k = 0; k < RL_REASON__MAX; ++k) {
                    const auto& c = (*cells)[id * RL_REASON__MAX + k];
                    const auto& p = s.last_stats[id * RL_REASON__MAX + k];
                    reasons[kReasonNames[k]] =
                        Json{{"packets", dt > 0 ? static_cast<double>(c.packets - std::min(p.packets, c.packets)) / dt : 0.0},
                             {"bytes", dt > 0 ? static_cast<double>(c.bytes - std::min(p.bytes, c.bytes)) / dt : 0.0}};
                }
                rates.push_back(Json{{"id", id}, {"name", r["name"]}, {"reasons", reasons}});
            }
            Json grates = Json::object();
            for (unsigned i = 0; i < RL_GC__MAX; ++i)
                grates[kGcNames[i]] =
                    dt > 0 ? static_cast<double>((*global)[i] - std::min(s.last_global[i], (*global)[i])) / dt : 0.0;
            data["rates"] = Json{{"rules", rates}, {"global", grates}, {"interval_s", dt}};
            s.last_stats = *cells;
            s.last_global = *global;
        } else {
            // Serve from the daemon's periodic talker snapshot when one was
            // taken since this stream's last line: no extra map walk per stream.
            uint64_t at = now;
            const std::map<std::string, TalkerSample>* cur = nullptr;
            if (talk_cur_ns_ > s.last_ns) {
                cur = &talk_cur_;
                at = talk_cur_ns_;
            } else {
                if (!talkers) {
                    auto t = maps_->readTalkers();
                    if (!t) continue;
                    talkers.emplace();
                    for (auto& x : *t) (*talkers)[keyOf(x.key)] = x;
                }
                cur = &*talkers;
            }
            data = topJson(s.last_talkers, s.last_ns, *cur, at, s.n, s.sort);
            s.last_talkers = *cur;
            s.last_ns = at;
            if (!server_->streamData(conn, s.id, data)) gone.push_back(conn);
            continue;
        }
        s.last_ns = now;
        if (!server_->streamData(conn, s.id, data)) gone.push_back(conn);
    }
    for (ConnId c : gone) subs_.erase(c);
}

void Daemon::onEvent(const rl_event& ev) {
    ++events_seen_;
    IpAddr a;
    a.family = ev.family;
    std::memcpy(a.bytes.data(), ev.addr, ev.family == 4 ? 4 : 16);
    Json data{{"ts_ns", ev.ts_ns},
              {"type", eventName(ev.type)},
              {"rule", ruleName(ev.rule_id)},
              {"rule_id", ev.rule_id},
              {"tier", ev.tier},
              {"family", ev.family},
              {"addr", formatIp(a)},
              {"prefix", ev.prefix_len},
              {"reason", ev.reason < RL_REASON__MAX ? kReasonNames[ev.reason] : "unknown"},
              {"until_ns", ev.until_ns}};
    RL_LOG_DEBUG("event %s rule %s %s/%u", eventName(ev.type), ruleName(ev.rule_id).c_str(), formatIp(a).c_str(),
                 ev.prefix_len);
    std::vector<ConnId> gone;
    for (ConnId conn : subscribers()) {
        auto it = subs_.find(conn);
        if (it != subs_.end() && it->second.kind == Subscription::Events &&
            !server_->streamData(conn, it->second.id, data))
            gone.push_back(conn);
    }
    for (ConnId c : gone) subs_.erase(c);
}

}  // namespace ratelimit
