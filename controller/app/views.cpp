#include "app/views.hpp"

#include <netinet/in.h>

#include <cmath>
#include <cstring>

namespace ratelimit::views {

const char* const kReasonNames[] = RL_REASON_NAMES;  // size checked against the header
const char* const kGcNames[] = RL_GCOUNTER_NAMES;
static_assert(sizeof(kReasonNames) / sizeof(kReasonNames[0]) == RL_REASON__MAX, "reason names");
static_assert(sizeof(kGcNames) / sizeof(kGcNames[0]) == RL_GC__MAX, "gcounter names");

const char* algoName(unsigned a) {
    switch (a) {
    case RL_ALGO_TOKEN_BUCKET: return "token_bucket";
    case RL_ALGO_GCRA: return "gcra";
    case RL_ALGO_SLIDING_WINDOW: return "sliding_window";
    case RL_ALGO_FIXED_WINDOW: return "fixed_window";
    default: return "none";
    }
}
const char* actionName(unsigned a) {
    switch (a) {
    case RL_ACT_ALLOW: return "allow";
    case RL_ACT_LIMIT: return "limit";
    case RL_ACT_DENY: return "deny";
    default: return "?";
    }
}
const char* exceedName(unsigned e) {
    switch (e) {
    case RL_EXCEED_DROP: return "drop";
    case RL_EXCEED_BLOCK: return "block";
    case RL_EXCEED_MONITOR: return "monitor";
    default: return "?";
    }
}
const char* eventName(unsigned t) {
    switch (t) {
    case RL_EV_LIMIT_START: return "limit_start";
    case RL_EV_LIMIT_END: return "limit_end";
    case RL_EV_BLOCK_START: return "block_start";
    case RL_EV_BLOCK_END: return "block_end";
    default: return "unknown";
    }
}
std::string protoName(uint8_t p) {
    switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
    default: return std::to_string(p);
    }
}

// "1000/s", "6000/min", "10/h" or "N per D ns".
std::string rateText(const Rate& r, const char* unit) {
    if (r.count == 0) return "";
    std::string c = std::to_string(r.count) + unit;
    if (r.period_ns == RL_NSEC_PER_SEC) return c + "/s";
    if (r.period_ns == 60 * RL_NSEC_PER_SEC) return c + "/min";
    if (r.period_ns == 3600 * RL_NSEC_PER_SEC) return c + "/h";
    return c + "/" + std::to_string(r.period_ns) + "ns";
}

Json meterJson(const MeterConfig& m) {
    Json j{{"algo", algoName(m.algo)}, {"prefix_v4", m.prefix_v4}, {"prefix_v6", m.prefix_v6}};
    if (m.algo == RL_ALGO_TOKEN_BUCKET || m.algo == RL_ALGO_GCRA) {
        if (m.packets.count) {
            j["packets"] = rateText(m.packets, "");
            j["packets_per_s"] = static_cast<double>(m.packets.count) * 1e9 / static_cast<double>(m.packets.period_ns);
            j["burst_packets"] = m.burst_packets;
        }
        if (m.bytes.count) {
            j["bytes"] = rateText(m.bytes, "B");
            j["bytes_per_s"] = static_cast<double>(m.bytes.count) * 1e9 / static_cast<double>(m.bytes.period_ns);
            j["burst_bytes"] = m.burst_bytes;
        }
    } else {
        j["limit"] = m.window_limit;
        j["window_ns"] = m.window_ns;
    }
    return j;
}

Json ruleJson(const RuleConfig& r, uint32_t id, const std::string& origin) {
    Json sources = Json::array();
    for (const auto& c : r.sources) sources.push_back(formatCidr(c));
    Json ports = Json::array();
    for (const auto& p : r.ports) ports.push_back(p.lo == p.hi ? std::to_string(p.lo)
                                                               : std::to_string(p.lo) + "-" + std::to_string(p.hi));
    Json tiers = Json::array();
    for (const auto& t : r.tiers) tiers.push_back(meterJson(t));
    return Json{{"id", id},
                {"name", r.name},
                {"origin", origin},
                {"action", actionName(r.action)},
                {"on_exceed", exceedName(r.on_exceed)},
                {"sources", sources},
                {"proto", r.proto ? Json(protoName(*r.proto)) : Json(nullptr)},
                {"ports", ports},
                {"block_ns", r.block_ns},
                {"tiers", tiers},
                {"global", r.global ? meterJson(*r.global) : Json(nullptr)}};
}

std::string keyOf(const rl_talker_key& k) { return std::string(reinterpret_cast<const char*>(&k), sizeof(k)); }

IpAddr talkerAddr(const rl_talker_key& k) {
    IpAddr a;
    a.family = k.family;
    std::memcpy(a.bytes.data(), k.addr, k.family == 4 ? 4 : 16);
    return a;
}

Json stateJson(const rl_meter& m, const rl_state& st, uint32_t rule_generation, uint64_t now_ns) {
    const uint64_t now_q = now_ns << RL_TIME_SHIFT;
    Json s{{"limited", (st.meta & RL_ST_F_LIMITED) != 0},
           {"blocked_flag", (st.meta & RL_ST_F_BLOCKED) != 0},
           {"generation", RL_ST_GEN(st.meta)},
           {"stale", RL_ST_ALGO(st.meta) != m.algo || RL_ST_GEN(st.meta) != (rule_generation & 0xffff)}};
    if (m.algo == RL_ALGO_TOKEN_BUCKET || m.algo == RL_ALGO_GCRA) {
        for (int d = 0; d < (m.algo == RL_ALGO_GCRA ? 1 : 2); ++d) {
            bool on = m.algo == RL_ALGO_GCRA || (m.flags & (d == 0 ? RL_METER_F_PKTS : RL_METER_F_BYTES));
            if (!on || m.t_q16[d] == 0) continue;
            // tokens(now) = (limit - max(0, TAT - now)) / T, T = t_q16 / 2^16 q per unit
            uint64_t tat = st.w[d];
            uint64_t backlog = tat > now_q ? tat - now_q : 0;
            double avail_q = m.limit_q[d] > backlog ? static_cast<double>(m.limit_q[d] - backlog) : 0.0;
            std::string dim = d == 0 ? "packets" : "bytes";
            s["tat_" + dim + "_q"] = tat;
            s["tokens_" + dim] = std::floor(avail_q * 65536.0 / static_cast<double>(m.t_q16[d]));
            s["capacity_" + dim] =
                std::floor(static_cast<double>(m.limit_q[d]) * 65536.0 / static_cast<double>(m.t_q16[d]));
            s["tat_" + dim + "_ahead_ms"] = static_cast<double>(backlog >> RL_TIME_SHIFT) / 1e6;
        }
    } else {
        s["window_start_ns"] = st.w[0];
        s["window_ns"] = m.window_ns;
        s["limit"] = m.window_limit;
        s["current"] = static_cast<uint32_t>(st.w[1]);
        s["previous"] = static_cast<uint32_t>(st.w[1] >> 32);
        s["window_age_ms"] = now_ns > st.w[0] ? static_cast<double>(now_ns - st.w[0]) / 1e6 : 0.0;
    }
    return s;
}

double lastSeenAgoS(uint32_t seen, uint64_t now_ns) {
    uint32_t now_seen = static_cast<uint32_t>(now_ns >> RL_SEEN_SHIFT);
    uint32_t ago = now_seen - seen;  // unsigned: correct across the 32-bit wrap
    return static_cast<double>(uint64_t{ago} << RL_SEEN_SHIFT) / 1e9;
}

}  // namespace ratelimit::views
