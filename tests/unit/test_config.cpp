#include <gtest/gtest.h>

#include <netinet/in.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.hpp"
#include "rules/compiler.hpp"

namespace ratelimit {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

std::string examplePath() {
    return (std::filesystem::path(__FILE__).parent_path() / "../../deploy/config/ratelimit.yaml").string();
}

std::string dump(const std::vector<ConfigError>& errors) {
    std::string s;
    for (const auto& e : errors) s += std::to_string(e.line) + ":" + std::to_string(e.column) + ": " + e.message + "\n";
    return s;
}

Config parseOk(const std::string& yaml) {
    auto o = parseConfigText(yaml);
    EXPECT_TRUE(o.errors.empty()) << yaml << "\n" << dump(o.errors);
    return o.config.value_or(Config{});
}

const RuleConfig* findRule(const Config& c, const std::string& name) {
    for (const auto& r : c.rules)
        if (r.name == name) return &r;
    return nullptr;
}

TEST(Config, ExampleFileParsesAndCompiles) {
    auto o = parseConfigFile(examplePath());
    ASSERT_TRUE(o.errors.empty()) << dump(o.errors);
    ASSERT_TRUE(o.config);
    const Config& c = *o.config;
    ASSERT_EQ(c.interfaces.size(), 2u);
    EXPECT_EQ(c.interfaces[0].name, "eth0");
    EXPECT_EQ(c.interfaces[1].name, "eth1");
    EXPECT_EQ(c.interfaces[1].mode, XdpMode::Auto);
    EXPECT_EQ(c.default_rule.name, "default");
    ASSERT_EQ(c.default_rule.tiers.size(), 1u);
    EXPECT_EQ(c.default_rule.tiers[0].packets.count, 1000u);
    EXPECT_EQ(c.default_rule.tiers[0].burst_packets, 2000u);
    EXPECT_EQ(c.rules.size(), 6u);
    const RuleConfig* ssh = findRule(c, "ssh");
    ASSERT_NE(ssh, nullptr);
    EXPECT_EQ(ssh->on_exceed, RL_EXCEED_BLOCK);
    EXPECT_EQ(ssh->block_ns, 600 * kSec);
    EXPECT_EQ(ssh->tiers.at(0).algo, RL_ALGO_SLIDING_WINDOW);
    const RuleConfig* cust = findRule(c, "customer-a");
    ASSERT_NE(cust, nullptr);
    EXPECT_EQ(cust->tiers.size(), 2u);
    EXPECT_EQ(cust->ports.size(), 3u);
    EXPECT_TRUE(cust->global.has_value());
    EXPECT_EQ(c.talker_shift, 6);
    EXPECT_EQ(c.management_allow.size(), 2u);
    EXPECT_EQ(c.control_group, "ratelimit");
    auto img = compileRules(c, nullptr);
    ASSERT_TRUE(img) << img.error().message();
}

TEST(Config, BuiltinDefaultCompiles) {
    Config c = builtinDefaultConfig();
    EXPECT_TRUE(c.interfaces.empty());
    EXPECT_TRUE(c.rules.empty());
    ASSERT_EQ(c.default_rule.tiers.size(), 1u);
    EXPECT_EQ(c.default_rule.action, RL_ACT_LIMIT);
    EXPECT_EQ(c.default_rule.tiers[0].prefix_v4, 32);
    EXPECT_EQ(c.default_rule.tiers[0].prefix_v6, 64);
    EXPECT_TRUE(checkRules(c).empty());
    auto img = compileRules(c, nullptr);
    ASSERT_TRUE(img) << img.error().message();
    EXPECT_EQ(img->rules[0].action, RL_ACT_LIMIT);
    EXPECT_EQ(img->rules[0].n_tiers, 1);
    EXPECT_TRUE(img->lpm4.empty());
    EXPECT_TRUE(img->lpm6.empty());
}

TEST(Config, EmptyFileMeansDefaultsWithAllowDefaultRule) {
    for (const char* text : {"", "# only a comment\n", "rules:\n"}) {
        Config c = parseOk(text);
        EXPECT_EQ(c.default_rule.action, RL_ACT_ALLOW) << text;
        EXPECT_EQ(c.state_entries_v4, RL_STATE_DEFAULT_ENTRIES);
        EXPECT_EQ(c.metrics_listen, "127.0.0.1:9477");
        EXPECT_EQ(c.pin_path, "/sys/fs/bpf/ratelimit");
    }
}

TEST(Config, ValuesAndDefaults) {
    Config c = parseOk(R"(
interfaces: [veth0, {name: veth1, mode: native}, {name: veth2, mode: generic}]
defaults: {rate: 6000/min}
rules:
  - name: win
    sources: [198.18.0.0/15]
    limit: 100
    window: 10s
  - name: bytes
    sources: ["2001:db8::/32"]
    bytes_rate: 10MB/s
  - name: g
    sources: [10.0.0.0/8]
    algorithm: gcra
    rate: 10/s
    key: {ipv4_prefix: 24}
tracking: {capacity_v4: 2048, capacity_v6: 4096, block_capacity: 100, new_keys: empty}
packets: {malformed: pass, state_full: drop, count_bytes: l2}
events: {rate: 50}
top: {sample: 1024}
metrics: {listen: "[::1]:9100"}
control: {socket: /tmp/x.sock, group: wheel}
pin_path: /sys/fs/bpf/rl-test
log_level: debug
)");
    ASSERT_EQ(c.interfaces.size(), 3u);
    EXPECT_EQ(c.interfaces[0].mode, XdpMode::Auto);
    EXPECT_EQ(c.interfaces[1].mode, XdpMode::Native);
    EXPECT_EQ(c.interfaces[2].mode, XdpMode::Generic);
    const MeterConfig& d = c.default_rule.tiers.at(0);
    EXPECT_EQ(d.packets.count, 6000u);
    EXPECT_EQ(d.packets.period_ns, 60 * kSec);
    EXPECT_EQ(d.burst_packets, 100u);  // one second's worth
    EXPECT_EQ(d.algo, RL_ALGO_TOKEN_BUCKET);
    EXPECT_EQ(c.default_rule.on_exceed, RL_EXCEED_DROP);
    const RuleConfig* w = findRule(c, "win");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->tiers.at(0).algo, RL_ALGO_SLIDING_WINDOW);  // limit+window without algorithm
    EXPECT_EQ(w->tiers.at(0).window_limit, 100u);
    EXPECT_EQ(w->tiers.at(0).window_ns, 10 * kSec);
    const RuleConfig* b = findRule(c, "bytes");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->tiers.at(0).bytes.count, 10'000'000u);
    EXPECT_EQ(b->tiers.at(0).burst_bytes, 10'000'000u);
    EXPECT_EQ(b->tiers.at(0).packets.count, 0u);
    const RuleConfig* g = findRule(c, "g");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->tiers.at(0).algo, RL_ALGO_GCRA);
    EXPECT_EQ(g->tiers.at(0).prefix_v4, 24);
    EXPECT_EQ(g->tiers.at(0).prefix_v6, 64);
    EXPECT_EQ(g->where.line, 12);
    EXPECT_EQ(g->where.column, 5);
    EXPECT_EQ(c.state_entries_v4, 2048u);
    EXPECT_EQ(c.state_entries_v6, 4096u);
    EXPECT_EQ(c.block_entries, 100u);
    EXPECT_TRUE(c.new_keys_empty);
    EXPECT_EQ(c.malformed_verdict, RL_VERDICT_PASS);
    EXPECT_EQ(c.state_full_verdict, RL_VERDICT_DROP);
    EXPECT_TRUE(c.l2_bytes);
    EXPECT_EQ(c.event_rate, 50u);
    EXPECT_EQ(c.event_burst, 100u);
    EXPECT_EQ(c.talker_shift, 10);
    EXPECT_EQ(c.metrics_listen, "[::1]:9100");
    EXPECT_EQ(c.control_socket, "/tmp/x.sock");
    EXPECT_EQ(c.control_group, "wheel");
    EXPECT_EQ(c.pin_path, "/sys/fs/bpf/rl-test");
    EXPECT_EQ(c.log_level, "debug");
}

TEST(Config, RulesWithoutSourcesMatchEverySource) {
    Config c = parseOk("rules:\n  - {name: dns, protocol: udp, ports: [53, \"5353-5355\"], rate: 10/s}\n"
                       "  - {name: ping, protocol: icmp, action: deny}\n");
    const RuleConfig* dns = findRule(c, "dns");
    ASSERT_NE(dns, nullptr);
    EXPECT_TRUE(dns->sources.empty());
    EXPECT_EQ(dns->proto, IPPROTO_UDP);
    ASSERT_EQ(dns->ports.size(), 2u);
    EXPECT_EQ(dns->ports[1].lo, 5353);
    EXPECT_EQ(dns->ports[1].hi, 5355);
}

TEST(Config, SourcesAndPortsMayBeSingleValues) {
    Config c = parseOk("rules:\n  - {name: a, sources: 10.0.0.0/8, protocol: tcp, ports: 22, rate: 1/s}\n");
    const RuleConfig* a = findRule(c, "a");
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(a->sources.size(), 1u);
    ASSERT_EQ(a->ports.size(), 1u);
    EXPECT_EQ(a->ports[0].lo, 22);
}

struct ErrCase {
    const char* name;
    const char* yaml;
    int line, column;
    const char* message;
};

// Each document has exactly one problem; the error must point at it.
const ErrCase kErrors[] = {
    {"syntax", "rules:\n  - name: x\n    rate: [1\n", 4, 1, "YAML syntax"},
    {"unknown top key", "intrefaces: [eth0]\n", 1, 1, "unknown key 'intrefaces' in the configuration (did you mean 'interfaces'?)"},
    {"unknown rule key", "rules:\n  - name: a\n    rate: 1/s\n    brust: 5\n", 4, 5, "unknown key 'brust' in rule 'a' (did you mean 'burst'?)"},
    {"unknown key no suggestion", "tracking: {zzzzzz: 1}\n", 1, 12, "unknown key 'zzzzzz' in tracking (known keys:"},
    {"duplicate key", "log_level: info\nlog_level: debug\n", 2, 1, "duplicate key 'log_level'"},
    {"top not map", "- a\n- b\n", 1, 1, "the configuration must be a mapping"},
    {"rules not list", "rules: {name: a}\n", 1, 8, "rules must be a list"},
    {"host bits", "rules:\n  - name: a\n    sources: [10.0.0.0/8, 198.18.0.1/15]\n    rate: 1/s\n", 3, 27,
     "198.18.0.1/15 has host bits set"},
    {"prefix range", "rules:\n  - name: a\n    sources:\n      - 10.0.0.0/33\n    rate: 1/s\n", 4, 9,
     "prefix length 33 out of range for IPv4"},
    {"duplicate source", "rules:\n  - {name: a, sources: [10.0.0.0/8, 10.0.0.0/8], rate: 1/s}\n", 2, 37, "listed twice"},
    {"bad rate unit", "rules:\n  - name: a\n    rate: 10/fortnight\n", 3, 11, "unknown time unit 'fortnight'"},
    {"rate below range", "rules:\n  - name: a\n    rate: 1/day\n", 3, 11, "packet rate below the minimum of 1/hour"},
    {"rate above range", "defaults:\n  rate: 2G/s\n", 2, 9, "packet rate above the maximum"},
    {"burst too large", "defaults:\n  rate: 1/h\n  burst: 100000000\n", 2, 9, "burst too large"},
    {"byte rate too low", "defaults:\n  bytes_rate: 100bit/s\n", 2, 15, "byte rate below the minimum of 1kbit/s"},
    {"window too short", "defaults:\n  limit: 10\n  window: 100us\n", 2, 10, "window must be at least 1ms"},
    {"burst not number", "defaults:\n  rate: 1/s\n  burst: lots\n", 3, 10, "'lots' is not a non-negative whole number"},
    {"burst zero", "defaults:\n  rate: 1/s\n  burst: 0\n", 3, 10, "out of range (1-"},
    {"bad algorithm", "defaults:\n  algorithm: leaky\n  rate: 1/s\n", 2, 14, "'leaky' is not one of token_bucket, gcra, sliding_window or fixed_window"},
    {"mixed algorithms", "defaults:\n  rate: 1/s\n  limit: 5\n  window: 1s\n", 2, 3, "different algorithms"},
    {"gcra bytes", "defaults:\n  algorithm: gcra\n  rate: 1/s\n  bytes_rate: 1MB/s\n", 4, 3, "not supported by gcra"},
    {"window needs window", "defaults:\n  algorithm: fixed_window\n  limit: 5\n", 2, 3, "window algorithms need window"},
    {"limit needs meter", "rules:\n  - name: a\n    sources: [10.0.0.0/8]\n", 2, 5, "a limit rule needs rate"},
    {"tiers and top keys", "rules:\n  - name: a\n    rate: 1/s\n    tiers: [{rate: 2/s}]\n", 4, 5, "not both"},
    {"too many tiers", "defaults:\n  tiers: [{rate: 1/s}, {rate: 2/s}, {rate: 3/s}, {rate: 4/s}, {rate: 5/s}]\n", 2, 10,
     "has 5 tiers; at most 4"},
    {"tier error located", "defaults:\n  tiers:\n    - rate: 1/s\n    - rate: 1/s\n      bytes_burst: 5MB\n", 5, 7,
     "defaults tier 2: 'bytes_burst' needs bytes_rate"},
    {"key prefix range", "defaults:\n  rate: 1/s\n  key: {ipv4_prefix: 33}\n", 3, 22, "ipv4_prefix: 33 out of range (0-32)"},
    {"key unknown", "defaults:\n  rate: 1/s\n  key: {ipv4: 24}\n", 3, 9, "unknown key 'ipv4' in defaults key"},
    {"deny with rate", "rules:\n  - name: a\n    action: deny\n    rate: 5/s\n", 4, 5, "'rate' has no effect on a deny rule"},
    {"bad action", "rules:\n  - name: a\n    action: reject\n", 3, 13, "'reject' is not one of limit, allow or deny"},
    {"block needs block_for", "defaults:\n  rate: 1/s\n  on_exceed: block\n", 3, 3, "on_exceed: block needs block_for"},
    {"block_for without block", "defaults:\n  rate: 1/s\n  block_for: 10s\n", 3, 3, "block_for only applies with on_exceed: block"},
    {"block_for unit", "defaults:\n  rate: 1/s\n  on_exceed: block\n  block_for: 10\n", 4, 14, "missing unit"},
    {"ports without proto", "rules:\n  - name: a\n    ports: [22]\n    action: deny\n", 3, 5, "ports need protocol: tcp or udp"},
    {"ports with icmp", "rules:\n  - {name: a, protocol: icmp, ports: [22], action: deny}\n", 2, 31, "ports need protocol: tcp or udp"},
    {"bad port", "rules:\n  - {name: a, protocol: tcp, ports: [22, 70000], action: deny}\n", 2, 42, "'70000' is not a port"},
    {"reversed range", "rules:\n  - {name: a, protocol: tcp, ports: [\"90-80\"], action: deny}\n", 2, 38, "start is above its end"},
    {"icmp on v6 source", "rules:\n  - {name: a, sources: [\"2001:db8::/32\"], protocol: icmp, action: deny}\n", 2, 53,
     "protocol icmp never matches source 2001:db8::/32"},
    {"bad protocol", "rules:\n  - {name: a, protocol: sctp, action: deny}\n", 2, 25, "'sctp' is not one of tcp, udp, icmp or icmpv6"},
    {"missing name", "rules:\n  - sources: [10.0.0.0/8]\n    action: deny\n", 2, 5, "rule 1 needs a name"},
    {"bad name", "rules:\n  - {name: \"a b\", action: deny}\n", 2, 12, "must be 1-47 characters"},
    {"reserved name", "rules:\n  - {name: default, action: deny}\n", 2, 12, "is reserved"},
    {"duplicate name", "rules:\n  - {name: a, sources: [10.0.0.0/8], action: deny}\n  - {name: a, sources: [11.0.0.0/8], action: deny}\n",
     3, 5, "rule name 'a' is used twice (first (line 2))"},
    {"shadowed rule", "rules:\n  - {name: a, sources: [10.0.0.0/8], action: deny}\n  - {name: b, sources: [10.0.0.0/8], rate: 1/s}\n",
     3, 5, "rule 'b' never applies to source 10.0.0.0/8: rule 'a' (line 2) matches the same packets first"},
    {"inside management", "management: {allow: [10.0.0.0/8]}\nrules:\n  - {name: a, sources: [10.1.0.0/16], action: deny}\n",
     3, 5, "inside management allow"},
    {"defaults has sources", "defaults: {sources: [10.0.0.0/8], rate: 1/s}\n", 1, 12, "unknown key 'sources' in defaults"},
    {"global needs rate", "defaults:\n  rate: 1/s\n  global: {burst: 5}\n", 3, 11, "global needs rate"},
    {"global window", "defaults:\n  rate: 1/s\n  global: {rate: 1/s, algorithm: fixed_window}\n", 3, 34,
     "is not one of token_bucket or gcra"},
    {"interface dup", "interfaces: [eth0, eth0]\n", 1, 20, "interface eth0 is listed twice"},
    {"interface name too long", "interfaces: [averyveryverylongname]\n", 1, 14, "not a valid Linux interface name"},
    {"interface mode", "interfaces: [{name: eth0, mode: turbo}]\n", 1, 33, "'turbo' is not one of auto, native or generic"},
    {"capacity range", "tracking:\n  capacity_v4: 10\n", 2, 16, "out of range (1024-"},
    {"new_keys", "tracking: {new_keys: half}\n", 1, 22, "'half' is not one of full or empty"},
    {"malformed", "packets: {malformed: maybe}\n", 1, 22, "'maybe' is not one of drop or pass"},
    {"sample power", "top: {sample: 63}\n", 1, 15, "63 is not a power of two"},
    {"sample one", "top: {sample: 1}\n", 1, 15, "out of range (2-"},
    {"metrics listen", "metrics: {listen: \"localhost\"}\n", 1, 19, "is not address:port"},
    {"metrics port", "metrics: {listen: \"127.0.0.1:99999\"}\n", 1, 19, "is not address:port"},
    {"relative pin path", "pin_path: bpf/rl\n", 1, 11, "must be an absolute path"},
    {"log level", "log_level: verbose\n", 1, 12, "'verbose' is not one of debug, info, warn or error"},
    {"management cidr", "management:\n  allow: [10.0.0.1/8]\n", 2, 11, "10.0.0.1/8 has host bits set"},
    {"list where scalar", "log_level: [info]\n", 1, 12, "log_level must be a single value, not a list"},
    {"missing value", "defaults:\n  rate:\n", 2, 3, "defaults rate: missing value"},
    {"version", "version: 2\n", 1, 10, "version (this daemon reads version 1): 2 out of range"},
};

TEST(Config, EveryErrorIsLocated) {
    for (const auto& c : kErrors) {
        auto o = parseConfigText(c.yaml);
        EXPECT_FALSE(o.config) << c.name;
        ASSERT_EQ(o.errors.size(), 1u) << c.name << "\n" << c.yaml << dump(o.errors);
        const ConfigError& e = o.errors[0];
        EXPECT_EQ(e.line, c.line) << c.name << ": " << e.message;
        EXPECT_EQ(e.column, c.column) << c.name << ": " << e.message;
        EXPECT_NE(e.message.find(c.message), std::string::npos) << c.name << ": got '" << e.message << "'";
    }
}

TEST(Config, CollectsAllErrors) {
    const char* yaml =
        "interfaces: [eth0, eth0]\n"      // 1
        "defaults:\n"                      // 2
        "  rate: 1000/s\n"                 // 3
        "  brust: 200\n"                   // 4
        "rules:\n"                         // 5
        "  - name: a\n"                    // 6
        "    sources: [198.18.0.1/15]\n"   // 7
        "    rate: 10/fortnight\n"         // 8
        "  - name: b\n"                    // 9
        "    action: deny\n"               // 10
        "    rate: 5/s\n"                  // 11
        "top: {sample: 63}\n";             // 12
    auto o = parseConfigText(yaml);
    EXPECT_FALSE(o.config);
    std::vector<std::pair<int, int>> where;
    for (const auto& e : o.errors) where.emplace_back(e.line, e.column);
    std::vector<std::pair<int, int>> expected = {{1, 20}, {4, 3}, {7, 15}, {8, 11}, {11, 5}, {12, 15}};
    EXPECT_EQ(where, expected) << dump(o.errors);
}

TEST(Config, RuleErrorsAndSetErrorsTogether) {
    const char* yaml =
        "rules:\n"                                                      // 1
        "  - {name: a, sources: [10.0.0.0/8], action: deny}\n"          // 2
        "  - {name: b, sources: [10.0.0.0/8], action: deny}\n"          // 3
        "  - {name: c, sources: [11.0.0.0/8], rate: 5/s, brust: 1}\n"   // 4
        "  -\n";                                                        // 5
    auto o = parseConfigText(yaml);
    EXPECT_FALSE(o.config);
    ASSERT_EQ(o.errors.size(), 3u) << dump(o.errors);
    EXPECT_EQ(o.errors[0].line, 2);  // the empty entry has no mark of its own: reported at the list
    EXPECT_NE(o.errors[0].message.find("rule 4 must be a mapping"), std::string::npos) << dump(o.errors);
    EXPECT_EQ(o.errors[1].line, 3);
    EXPECT_NE(o.errors[1].message.find("rule 'b' never applies"), std::string::npos) << dump(o.errors);
    EXPECT_EQ(o.errors[2].line, 4);
    EXPECT_EQ(o.errors[2].column, 49);
    EXPECT_NE(o.errors[2].message.find("unknown key 'brust'"), std::string::npos) << dump(o.errors);
}

TEST(Config, FormatErrorsShowsLineAndCaret) {
    const std::string yaml = "rules:\n  - name: a\n    rate: 10/fortnight\n";
    auto o = parseConfigText(yaml);
    ASSERT_EQ(o.errors.size(), 1u);
    std::string out = formatErrors(yaml, o.errors, "/etc/ratelimit/ratelimit.yaml");
    std::string first = out.substr(0, out.find('\n'));
    EXPECT_EQ(first.rfind("/etc/ratelimit/ratelimit.yaml:3:11: rule 'a' rate: '10/fortnight': unknown time unit", 0), 0u)
        << out;
    std::istringstream lines(out);
    std::string l1, l2, l3;
    std::getline(lines, l1);
    std::getline(lines, l2);
    std::getline(lines, l3);
    EXPECT_EQ(l2, "        rate: 10/fortnight");
    EXPECT_EQ(l3, std::string(4 + 10, ' ') + "^");
    EXPECT_EQ(formatErrors(yaml, o.errors).rfind("config:3:11: ", 0), 0u);
    // an error without a location prints no source line
    std::string nofile = formatErrors("", {ConfigError{0, 0, "cannot open x"}}, "x");
    EXPECT_EQ(nofile, "x: cannot open x\n");
}

// Arbitrary edits of a valid file give errors, never an exception or a crash,
// and every error carries a location inside the text or none at all.
TEST(Config, MutatedExampleNeverThrows) {
    std::ifstream in(examplePath());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string base = ss.str();
    ASSERT_FALSE(base.empty());
    const std::string alphabet = " \n\t:-[]{},#'\"&*!|>%@`0123456789abcdefxyz/.";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    auto next = [&] {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed;
    };
    int rejected = 0;
    const int rounds = 1500;
    for (int i = 0; i < rounds; i++) {
        std::string text = base;
        int edits = 1 + static_cast<int>(next() % 4);
        for (int k = 0; k < edits; k++) {
            size_t pos = next() % text.size();
            switch (next() % 3) {
            case 0: text[pos] = alphabet[next() % alphabet.size()]; break;
            case 1: text.insert(pos, 1, alphabet[next() % alphabet.size()]); break;
            default: text.erase(pos, 1 + next() % 8); break;
            }
        }
        ParseOutcome o;
        ASSERT_NO_THROW(o = parseConfigText(text)) << text;
        EXPECT_EQ(o.config.has_value(), o.errors.empty());
        int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
        for (const auto& e : o.errors) {
            EXPECT_FALSE(e.message.empty());
            EXPECT_GE(e.line, 0);
            EXPECT_LE(e.line, lines) << e.message;
        }
        if (!o.errors.empty()) rejected++;
        ASSERT_NO_THROW(formatErrors(text, o.errors, "f"));
    }
    // most random edits break something; the test would be vacuous otherwise
    EXPECT_GT(rejected, rounds / 4);
}

TEST(Config, MissingFileIsAnError) {
    auto o = parseConfigFile("/nonexistent/ratelimit.yaml");
    EXPECT_FALSE(o.config);
    ASSERT_EQ(o.errors.size(), 1u);
    EXPECT_NE(o.errors[0].message.find("cannot open /nonexistent/ratelimit.yaml"), std::string::npos);
}

TEST(Config, TooManyRulesAreRefused) {
    std::string yaml = "rules:\n";
    for (int i = 0; i < RL_MAX_RULES; i++)
        yaml += "  - {name: r" + std::to_string(i) + ", sources: [10." + std::to_string(i / 256) + "." +
                std::to_string(i % 256) + ".0/24], action: deny}\n";
    auto o = parseConfigText(yaml);
    EXPECT_FALSE(o.config);
    ASSERT_EQ(o.errors.size(), 1u) << dump(o.errors);
    EXPECT_NE(o.errors[0].message.find("256 rules configured; at most 255 fit"), std::string::npos)
        << o.errors[0].message;
}

TEST(Config, RuleTextForRuntimeAdds) {
    auto ok = parseRuleText(R"({"name": "api", "sources": ["198.18.0.0/24"], "rate": "100/s", "burst": 50})");
    ASSERT_TRUE(ok.rule) << dump(ok.errors);
    EXPECT_EQ(ok.rule->name, "api");
    EXPECT_EQ(ok.rule->tiers.at(0).burst_packets, 50u);
    auto bad = parseRuleText(R"({"name": "api", "sources": ["198.18.0.1/24"], "rate": "100/s", "brust": 50})");
    EXPECT_FALSE(bad.rule);
    ASSERT_EQ(bad.errors.size(), 2u) << dump(bad.errors);
    EXPECT_EQ(bad.errors[0].line, 1);
    EXPECT_EQ(bad.errors[0].column, 29);
    EXPECT_NE(bad.errors[0].message.find("has host bits set"), std::string::npos);
    EXPECT_EQ(bad.errors[1].column, 64);
    EXPECT_NE(bad.errors[1].message.find("unknown key 'brust' in rule 'api'"), std::string::npos)
        << bad.errors[1].message;
    auto notmap = parseRuleText("[1, 2]");
    EXPECT_FALSE(notmap.rule);
    ASSERT_EQ(notmap.errors.size(), 1u);
    EXPECT_NE(notmap.errors[0].message.find("rule must be a mapping"), std::string::npos);
}

TEST(Config, CaretFollowsTabs) {
    const std::string yaml = "defaults:\n  rate:\t10/fortnight\n";
    auto o = parseConfigText(yaml);
    ASSERT_EQ(o.errors.size(), 1u) << dump(o.errors);
    EXPECT_EQ(o.errors[0].column, 9);
    std::string out = formatErrors(yaml, o.errors, "f");
    EXPECT_NE(out.find("\n    " + std::string("  ") + "     \t^\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace ratelimit
