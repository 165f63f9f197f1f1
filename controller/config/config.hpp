// The daemon's configuration as parsed from YAML (config/parser.cpp) or built in
// (config/defaults.cpp). Plain data; validation happens in the parser, which
// reports every error with line and column. See docs/config.md for the schema.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ratelimit/abi.h"
#include "rules/meter_params.hpp"
#include "util/net.hpp"
#include "util/result.hpp"

namespace ratelimit {

enum class XdpMode { Auto, Native, Generic };

struct InterfaceConfig {
    std::string name;
    XdpMode mode = XdpMode::Auto;
};

// One meter (a tier of a rule, or its global ceiling).
struct MeterConfig {
    rl_algo algo = RL_ALGO_TOKEN_BUCKET;
    Rate packets;                 // token bucket / gcra; count == 0: unset
    uint64_t burst_packets = 0;   // 0: defaults to one second of `packets`
    Rate bytes;                   // token bucket only
    uint64_t burst_bytes = 0;     // 0: defaults to one second of `bytes`
    uint64_t window_limit = 0;    // windows: packets per window
    uint64_t window_ns = 0;
    uint8_t prefix_v4 = 32;       // key granularity of this tier
    uint8_t prefix_v6 = 64;
};

struct PortRange {
    uint16_t lo = 0;
    uint16_t hi = 0;
};

struct SourceLocation {
    int line = 0;                 // 1-based; 0 = not from a file
    int column = 0;
};

struct RuleConfig {
    std::string name;                    // unique, [A-Za-z0-9_.-]{1,47}
    std::vector<Cidr> sources;           // empty for the default rule
    std::optional<uint8_t> proto;        // IPPROTO_TCP/UDP/ICMP/ICMPV6
    std::vector<PortRange> ports;        // empty: any; needs proto tcp or udp
    rl_action action = RL_ACT_LIMIT;
    rl_on_exceed on_exceed = RL_EXCEED_DROP;
    uint64_t block_ns = 0;               // on_exceed == block
    std::vector<MeterConfig> tiers;      // 1..RL_MAX_TIERS for limit rules
    std::optional<MeterConfig> global;   // aggregate ceiling over all keys
    // Admission control for new keys (spoofed floods): a source without state
    // is first charged to `admit` (new keys per second); refused sources share
    // `unknown` instead of getting state. Unset: every new source gets state.
    std::optional<MeterConfig> admit;
    std::optional<MeterConfig> unknown;  // requires admit; unset: refused sources drop
    SourceLocation where;
};

struct Config {
    std::vector<InterfaceConfig> interfaces;
    RuleConfig default_rule;             // name "default"; applies when no rule matches
    std::vector<RuleConfig> rules;       // in file order

    // tracking
    uint32_t state_entries_v4 = RL_STATE_DEFAULT_ENTRIES;
    uint32_t state_entries_v6 = RL_STATE_DEFAULT_ENTRIES;
    uint32_t block_entries = RL_BLOCK_DEFAULT_ENTRIES;
    bool new_keys_empty = false;         // new keys start with an empty bucket
    bool new_keys_empty_under_pressure = false; // ... only while a rule's admit meter is over half used

    // odd packets
    rl_verdict malformed_verdict = RL_VERDICT_DROP;
    rl_verdict state_full_verdict = RL_VERDICT_PASS;
    bool l2_bytes = false;               // count bytes from the Ethernet header
    bool refusal_cache = true;           // per-CPU cache of refused sources (RL_CFG_F_NO_DCACHE when off)

    // events and top talkers
    uint32_t event_rate = 100;           // per second per CPU
    uint32_t event_burst = 200;
    uint8_t talker_shift = 6;            // sample 1 in 64 packets for `top`

    // daemon
    std::string pin_path = "/sys/fs/bpf/ratelimit";
    std::string control_socket = "/run/ratelimit/ratelimitd.sock";
    std::string control_group;           // group allowed to change things besides root
    std::string metrics_listen = "127.0.0.1:9477";
    std::string log_level = "info";
    std::vector<Cidr> management_allow;  // never limited (lock-out safety)
    // The daemon adds the client address of every SSH session it detects
    // (SSH_CONNECTION, established TCP to local port 22) to management_allow.
    bool protect_ssh = true;
};

struct ConfigError {
    int line = 0;
    int column = 0;
    std::string message;
};

// All errors found, not just the first. Empty errors <=> value present.
struct ParseOutcome {
    std::optional<Config> config;
    std::vector<ConfigError> errors;
};

ParseOutcome parseConfigText(const std::string& yaml);
ParseOutcome parseConfigFile(const std::string& path);
Config builtinDefaultConfig();     // used when no file exists
std::string formatErrors(const std::string& source, const std::vector<ConfigError>& errors);

// Human units: "1000/s", "6000/min", "10/h", "10MB/s", "100Mbit/s", "30s", "500ms", "2m".
Result<Rate> parsePacketRate(const std::string& text);
Result<Rate> parseByteRate(const std::string& text);
Result<uint64_t> parseDurationNs(const std::string& text);

// ---- additions (config helper) ----

// "file:line:col: message" lines, each followed by the offending source line and
// a caret under the column. formatErrors(source, errors) uses the name "config".
std::string formatErrors(const std::string& source, const std::vector<ConfigError>& errors,
                         const std::string& filename);

// One rule in the YAML rule schema (a single mapping, as under `rules:`; JSON
// is valid YAML, so the control socket's rules.add can pass its JSON object
// text). Checks everything about the rule alone; name clashes and match-list
// limits need the whole set: run checkRules (rules/compiler.hpp) on the result.
struct RuleParseOutcome {
    std::optional<RuleConfig> rule;
    std::vector<ConfigError> errors;
};
RuleParseOutcome parseRuleText(const std::string& yaml);

// Sizes in bytes: "1500", "64KiB", "1MB" (MB = 10^6 bytes).
Result<uint64_t> parseByteSize(const std::string& text);

// Inverse of the parsers, exact and parseable again: {6000, 60e9} -> "6000/min",
// {5, 2e9} -> "5/2s", {12500000, 1e9} -> "12500kB/s"... 10^n byte units only,
// 30e9 ns -> "30s", 1500000 ns -> "1500us".
std::string formatPacketRate(const Rate& rate);
std::string formatByteRate(const Rate& rate);
std::string formatDuration(uint64_t ns);

// The burst used when none is configured: one second's worth of `rate`
// (rounded down), at least 1.
uint64_t defaultBurst(const Rate& rate);

// Names reserved for rules the daemon creates itself.
inline constexpr const char* kDefaultRuleName = "default";
inline constexpr const char* kManagementRuleName = "management";
// [A-Za-z0-9_.-]{1,47}
bool validRuleName(const std::string& name);

}  // namespace ratelimit
