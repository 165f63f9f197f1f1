#include "config/config.hpp"

namespace ratelimit {

// No file: limit every source address (/32, and /64 for IPv6, the usual
// allocation to one host or site) to 1000 packets/s with a burst of 2000,
// dropping the excess. No interfaces: the daemon takes them from its command
// line. Everything else is the Config defaults. Documented in docs/config.md.
Config builtinDefaultConfig() {
    Config c;
    RuleConfig& r = c.default_rule;
    r.name = kDefaultRuleName;
    r.action = RL_ACT_LIMIT;
    r.on_exceed = RL_EXCEED_DROP;
    MeterConfig m;
    m.algo = RL_ALGO_TOKEN_BUCKET;
    m.packets = Rate{1000, RL_NSEC_PER_SEC};
    m.burst_packets = 2000;
    m.prefix_v4 = 32;
    m.prefix_v6 = 64;
    r.tiers.push_back(m);
    return c;
}

}  // namespace ratelimit
