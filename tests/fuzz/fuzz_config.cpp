// libFuzzer harness: the YAML configuration parser, and the rules compiler on
// every configuration it accepts. Invariants: no crash/UB (ASan, UBSan), no
// exception escapes, "accepted" <=> no errors, every error has a message and a
// location inside the text, and a configuration that parses also passes
// checkRules and compiles (the parser runs the whole-set checks) and diffs
// against itself to nothing.
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
    std::fprintf(stderr, "fuzz_config invariant violated: %s: %s\n", what, detail.c_str());
    std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    ParseOutcome out = parseConfigText(text);
    if (out.config.has_value() == !out.errors.empty()) fail("config xor errors", std::to_string(out.errors.size()));
    for (const auto& e : out.errors) {
        if (e.message.empty()) fail("empty error message", "");
        if (e.line < 0 || e.column < 0) fail("negative location", e.message);
    }
    if (!out.errors.empty()) {
        // the operator sees this: it quotes source lines under carets
        std::string shown = formatErrors(text, out.errors, "fuzz.yaml");
        if (shown.empty()) fail("formatErrors returned nothing", "");
        return 0;
    }
    const Config& cfg = *out.config;
    auto issues = checkRules(cfg);
    if (!issues.empty()) fail("accepted config has rule issues", issues.front().message);
    auto img = compileRules(cfg, nullptr);
    if (!img) fail("accepted config does not compile", img.error().message());
    auto again = compileRules(cfg, &*img);
    if (!again) fail("recompile with previous failed", again.error().message());
    if (!diffImages(&*img, *again).empty()) fail("recompiling the same config changed the image", "");
    return 0;
}
