// Compiles a Config into the exact contents of the rule maps, and diffs two
// images so that a reload touches only what changed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "ratelimit/abi.h"

namespace ratelimit {

// name -> rule id. Ids are stable across reloads and restarts (persisted in
// rl_rulemeta); "default" is always RL_RULE_DEFAULT.
using RuleIds = std::map<std::string, uint32_t>;

struct RuleImage {
    RuleIds ids;
    std::vector<rl_rule> rules;                 // RL_MAX_RULES entries, indexed by id
    std::vector<rl_rule_meta> meta;             // RL_MAX_RULES entries
    std::map<std::pair<uint32_t, __be32>, rl_match_set> lpm4;           // (prefixlen, addr)
    std::map<std::pair<uint32_t, std::array<uint8_t, 16>>, rl_match_set> lpm6;
    rl_config cfg{};
};

// `previous` supplies existing ids and generations: a rule keeps its id while
// its name exists, and its generation unless a tier's algorithm or prefix
// changed (which resets that rule's key state). Errors name the rule.
Result<RuleImage> compileRules(const Config& config, const RuleImage* previous);

// ---- additions (config helper) ----

// The fast-path meter for one configured meter (a tier, or the global ceiling
// when `global`), defaults filled in, validated by rules/meter_params.
Result<rl_meter> meterFromConfig(const MeterConfig& m, bool global);

// Everything compileRules would refuse, each naming the rule and where it was
// written, so that the parser can report all of them with locations.
struct CompileIssue {
    std::string rule;         // rule name ("" for problems of the whole set)
    SourceLocation where;
    std::string message;
};
std::vector<CompileIssue> checkRules(const Config& config);

}  // namespace ratelimit
