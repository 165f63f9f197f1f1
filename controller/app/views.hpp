// Pure renderings for the control protocol: names, rule and meter JSON, and
// the decoding of one key's meter state (keys.show). No maps, no syscalls:
// unit-tested with the dual-compiled meters (tests/unit/test_views.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "control/server.hpp"
#include "maps/maps.hpp"
#include "ratelimit/abi.h"

namespace ratelimit::views {

extern const char* const kReasonNames[RL_REASON__MAX];
extern const char* const kGcNames[RL_GC__MAX];

const char* algoName(unsigned algo);
const char* actionName(unsigned action);
const char* exceedName(unsigned on_exceed);
const char* eventName(unsigned type);
std::string protoName(uint8_t proto);
std::string rateText(const Rate& r, const char* unit);  // "1000/s", "6000/min", "10/h"
Json meterJson(const MeterConfig& m);
Json ruleJson(const RuleConfig& r, uint32_t id, const std::string& origin);
std::string keyOf(const rl_talker_key& k);
IpAddr talkerAddr(const rl_talker_key& k);

// One key's state at now_ns (CLOCK_MONOTONIC, the fast path's clock), decoded
// for operators: tokens a packet may take now and capacity per token bucket /
// GCRA dimension, or the window counts. `rule_generation` flags stale state.
Json stateJson(const rl_meter& m, const rl_state& st, uint32_t rule_generation, uint64_t now_ns);
// Seconds since rl_state.seen (ns >> RL_SEEN_SHIFT, wrapping in 32 bits).
double lastSeenAgoS(uint32_t seen, uint64_t now_ns);

}  // namespace ratelimit::views
