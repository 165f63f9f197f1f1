// Compiles a Config into the exact contents of the rule maps, and diffs two
// images so that a reload touches only what changed.
#pragma once

#include <cstdint>
#include <array>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "ratelimit/abi.h"
#include "rules/lpm_hint.hpp"

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
    LpmHint hint;                               // rl_lpmhint, from lpm4/lpm6
    rl_config cfg{};                            // RL_CFG_F_HINT4/6 from hint
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

// What a reload must write: entries of `next` that differ from `previous`
// (previous == nullptr: everything in next). Suggested order, so that no
// lookup ever sees a candidate whose rule is not there yet: write `rules`
// (ids in use in next), then `lpm*_upsert`, then `lpm*_delete`, then the
// `freed` rule slots (zeroed) and `meta`, then rl_cfg if `cfg`.
struct ImageDiff {
    std::vector<uint32_t> rules;   // ids in use in next whose rl_rule changed
    std::vector<uint32_t> freed;   // ids in use before, not any more
    std::vector<uint32_t> meta;    // ids whose rl_rule_meta changed
    std::vector<std::pair<uint32_t, __be32>> lpm4_upsert, lpm4_delete;
    std::vector<std::pair<uint32_t, std::array<uint8_t, 16>>> lpm6_upsert, lpm6_delete;
    bool cfg = false;
    bool empty() const {
        return rules.empty() && freed.empty() && meta.empty() && lpm4_upsert.empty() && lpm4_delete.empty() &&
               lpm6_upsert.empty() && lpm6_delete.empty() && !cfg;
    }
};
ImageDiff diffImages(const RuleImage* previous, const RuleImage& next);

}  // namespace ratelimit
