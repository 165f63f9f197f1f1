// libFuzzer harness: parseRuleText, the parser behind the control command
// rules.add (its JSON object text is parsed as one YAML rule). A rule it
// accepts must also compile as the only rule of a configuration, unless
// checkRules names a whole-set problem.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "rules/compiler.hpp"

using namespace ratelimit;

namespace {
[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz_rule invariant violated: %s: %s\n", what, detail.c_str());
    std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    RuleParseOutcome out = parseRuleText(text);
    if (out.rule.has_value() == !out.errors.empty()) fail("rule xor errors", std::to_string(out.errors.size()));
    for (const auto& e : out.errors)
        if (e.message.empty()) fail("empty error message", "");
    if (!out.rule) return 0;
    if (!validRuleName(out.rule->name)) fail("accepted an invalid rule name", out.rule->name);
    Config cfg;
    cfg.rules.push_back(*out.rule);
    if (!checkRules(cfg).empty()) return 0;  // e.g. a reserved name: refused by rules.add too
    auto img = compileRules(cfg, nullptr);
    if (!img) fail("rule passes checkRules but does not compile", img.error().message());
    return 0;
}
