#include <gtest/gtest.h>

#include <netinet/in.h>

#include <cstring>

#include "config/config.hpp"
#include "rules/compiler.hpp"

namespace ratelimit {
namespace {

Config parse(const std::string& yaml) {
    auto o = parseConfigText(yaml);
    std::string errs;
    for (const auto& e : o.errors) errs += std::to_string(e.line) + ":" + std::to_string(e.column) + ": " + e.message + "\n";
    EXPECT_TRUE(o.config) << yaml << "\n" << errs;
    return o.config.value_or(Config{});
}

RuleImage compile(const Config& c, const RuleImage* prev = nullptr) {
    auto r = compileRules(c, prev);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : RuleImage{};
}

// The fast path's rl_classify over the compiled image: one longest-prefix
// lookup, then the first candidate whose protocol/port narrowing matches.
uint32_t classify(const RuleImage& img, const std::string& ip, uint8_t proto, uint16_t dport) {
    auto a = parseIp(ip);
    EXPECT_TRUE(a) << ip;
    const rl_match_set* set = nullptr;
    if (a->family == 4) {
        for (int len = 32; len >= 0 && !set; len--) {
            IpAddr m = maskIp(*a, static_cast<uint8_t>(len));
            __be32 k;
            std::memcpy(&k, m.bytes.data(), 4);
            auto it = img.lpm4.find({static_cast<uint32_t>(len), k});
            if (it != img.lpm4.end()) set = &it->second;
        }
    } else {
        for (int len = 128; len >= 0 && !set; len--) {
            IpAddr m = maskIp(*a, static_cast<uint8_t>(len));
            auto it = img.lpm6.find({static_cast<uint32_t>(len), m.bytes});
            if (it != img.lpm6.end()) set = &it->second;
        }
    }
    if (!set) return RL_RULE_DEFAULT;
    EXPECT_LE(set->count, static_cast<uint32_t>(RL_MAX_MATCH));
    for (uint32_t i = 0; i < set->count && i < RL_MAX_MATCH; i++) {
        const rl_match& m = set->m[i];
        if ((m.flags & RL_RULE_F_PROTO) && m.proto != proto) continue;
        if ((m.flags & RL_RULE_F_PORTS) && (dport < m.port_lo || dport > m.port_hi)) continue;
        return m.rule_id;
    }
    return RL_RULE_DEFAULT;
}

std::string nameOf(const RuleImage& img, uint32_t id) {
    for (const auto& [n, i] : img.ids)
        if (i == id) return n;
    return "?";
}

const char* kPrecedence = R"(
defaults: {rate: 100/s}
rules:
  - {name: wide, sources: [10.0.0.0/8], rate: 1/s}
  - {name: wide-tcp, sources: [10.0.0.0/8], protocol: tcp, rate: 2/s}
  - {name: wide-ssh, sources: [10.0.0.0/8], protocol: tcp, ports: [22], rate: 3/s}
  - {name: narrow, sources: [10.1.0.0/16], protocol: udp, rate: 4/s}
  - {name: narrow-dns, sources: [10.1.0.0/16], protocol: udp, ports: [53, "5353-5354"], rate: 5/s}
  - {name: host, sources: [10.1.2.3], action: allow}
  - {name: first, sources: [192.0.2.0/24], protocol: tcp, ports: ["1-1000"], action: deny}
  - {name: second, sources: [192.0.2.0/24], protocol: tcp, ports: ["500-2000"], rate: 6/s}
  - {name: any-dns, protocol: udp, ports: [53], rate: 7/s}
  - {name: v6, sources: ["2001:db8::/32"], protocol: tcp, action: deny}
  - {name: v6-host, sources: ["2001:db8::1/128"], protocol: udp, ports: [53], rate: 8/s}
  - {name: ping4, protocol: icmp, rate: 9/s}
  - {name: ping6, protocol: icmpv6, rate: 10/s}
)";

TEST(Compiler, PrecedenceLongestPrefixThenNarrowingThenFileOrder) {
    RuleImage img = compile(parse(kPrecedence));
    const struct {
        const char* ip;
        uint8_t proto;
        uint16_t port;
        const char* rule;
    } cases[] = {
        // 10/8: ports before proto-only before unnarrowed
        {"10.9.9.9", IPPROTO_TCP, 22, "wide-ssh"},
        {"10.9.9.9", IPPROTO_TCP, 80, "wide-tcp"},
        {"10.9.9.9", IPPROTO_UDP, 80, "wide"},
        {"10.9.9.9", IPPROTO_UDP, 53, "wide"},  // the longer prefix wins over /0's any-dns
        // 10.1/16 inherits 10/8's list after its own
        {"10.1.9.9", IPPROTO_UDP, 53, "narrow-dns"},
        {"10.1.9.9", IPPROTO_UDP, 5354, "narrow-dns"},
        {"10.1.9.9", IPPROTO_UDP, 5355, "narrow"},
        {"10.1.9.9", IPPROTO_TCP, 22, "wide-ssh"},
        {"10.1.9.9", IPPROTO_TCP, 23, "wide-tcp"},
        {"10.1.9.9", IPPROTO_ICMP, 0, "wide"},
        // the /32 allow wins for everything
        {"10.1.2.3", IPPROTO_TCP, 22, "host"},
        {"10.1.2.3", IPPROTO_UDP, 53, "host"},
        // equal prefix, equal narrowing: file order, the rest of the range falls through
        {"192.0.2.7", IPPROTO_TCP, 700, "first"},
        {"192.0.2.7", IPPROTO_TCP, 1500, "second"},
        {"192.0.2.7", IPPROTO_TCP, 2001, "default"},
        {"192.0.2.7", IPPROTO_ICMP, 0, "ping4"},
        // no sources: every address of the family
        {"203.0.113.1", IPPROTO_UDP, 53, "any-dns"},
        {"203.0.113.1", IPPROTO_UDP, 54, "default"},
        {"203.0.113.1", IPPROTO_ICMP, 0, "ping4"},
        {"203.0.113.1", IPPROTO_ICMPV6, 0, "default"},
        {"2001:db8::1", IPPROTO_UDP, 53, "v6-host"},
        {"2001:db8::1", IPPROTO_TCP, 53, "v6"},
        {"2001:db8::2", IPPROTO_UDP, 53, "any-dns"},
        {"2001:db8::2", IPPROTO_ICMPV6, 0, "ping6"},
        {"2001:db9::2", IPPROTO_ICMPV6, 0, "ping6"},
        {"2001:db9::2", IPPROTO_ICMP, 0, "default"},
        {"2001:db9::2", IPPROTO_TCP, 443, "default"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(nameOf(img, classify(img, c.ip, c.proto, c.port)), c.rule)
            << c.ip << " proto " << int(c.proto) << " port " << c.port;
    }
}

TEST(Compiler, MatchListsAreFlattenedAndCutAfterUnconditionalMatch) {
    RuleImage img = compile(parse(kPrecedence));
    auto v4 = [&](const char* cidr) {
        auto c = parseCidr(cidr);
        __be32 k;
        std::memcpy(&k, c->addr.bytes.data(), 4);
        auto it = img.lpm4.find({c->prefix_len, k});
        EXPECT_NE(it, img.lpm4.end()) << cidr;
        std::vector<std::string> names;
        if (it == img.lpm4.end()) return names;
        for (uint32_t i = 0; i < it->second.count; i++) {
            std::string n = nameOf(img, it->second.m[i].rule_id);
            if (it->second.m[i].flags & RL_RULE_F_PORTS)
                n += ":" + std::to_string(it->second.m[i].port_lo) + "-" + std::to_string(it->second.m[i].port_hi);
            names.push_back(n);
        }
        return names;
    };
    using V = std::vector<std::string>;
    EXPECT_EQ(v4("0.0.0.0/0"), (V{"any-dns:53-53", "ping4"}));
    EXPECT_EQ(v4("10.0.0.0/8"), (V{"wide-ssh:22-22", "wide-tcp", "wide"}));
    EXPECT_EQ(v4("10.1.0.0/16"),
              (V{"narrow-dns:53-53", "narrow-dns:5353-5354", "narrow", "wide-ssh:22-22", "wide-tcp", "wide"}));
    EXPECT_EQ(v4("10.1.2.3/32"), (V{"host"}));
    EXPECT_EQ(v4("192.0.2.0/24"), (V{"first:1-1000", "second:500-2000", "any-dns:53-53", "ping4"}));
    EXPECT_EQ(img.lpm4.size(), 5u);
    EXPECT_EQ(img.lpm6.size(), 3u);  // ::/0, 2001:db8::/32, 2001:db8::1/128
    // the default rule has no LPM entry: rl_classify falls back to RL_RULE_DEFAULT
    for (const auto& [k, set] : img.lpm4)
        for (uint32_t i = 0; i < set.count; i++) EXPECT_NE(set.m[i].rule_id, RL_RULE_DEFAULT);
}

TEST(Compiler, RulesAndMetersAndConfig) {
    Config c = parse(R"(
defaults: {rate: 1000/s, burst: 2000, on_exceed: monitor}
rules:
  - name: t
    sources: [10.0.0.0/8]
    on_exceed: block
    block_for: 30s
    tiers:
      - {rate: 10/s, key: {ipv4_prefix: 32}}
      - {algorithm: fixed_window, limit: 100, window: 1m, key: {ipv4_prefix: 24, ipv6_prefix: 48}}
    global: {algorithm: gcra, rate: 1000/s, burst: 10}
  - {name: d, sources: [11.0.0.0/8], action: deny}
packets: {count_bytes: l2, malformed: pass, state_full: drop}
tracking: {new_keys: empty}
events: {rate: 10, burst: 30}
top: {sample: 8}
)");
    RuleImage img = compile(c);
    const rl_rule& def = img.rules[RL_RULE_DEFAULT];
    EXPECT_EQ(def.action, RL_ACT_LIMIT);
    EXPECT_EQ(def.on_exceed, RL_EXCEED_MONITOR);
    EXPECT_EQ(def.n_tiers, 1);
    auto tb = tokenBucketMeter({{1000, 1'000'000'000}, 2000, {}, 0});
    ASSERT_TRUE(tb);
    EXPECT_EQ(def.tiers[0].t_q16[0], tb->t_q16[0]);
    EXPECT_EQ(def.tiers[0].limit_q[0], tb->limit_q[0]);
    EXPECT_EQ(def.tiers[0].prefix_v4, 32);
    EXPECT_EQ(def.tiers[0].prefix_v6, 64);
    const rl_rule& t = img.rules[img.ids.at("t")];
    EXPECT_EQ(t.action, RL_ACT_LIMIT);
    EXPECT_EQ(t.on_exceed, RL_EXCEED_BLOCK);
    EXPECT_EQ(t.block_ns, 30'000'000'000u);
    EXPECT_EQ(t.n_tiers, 2);
    EXPECT_EQ(t.tiers[0].algo, RL_ALGO_TOKEN_BUCKET);
    EXPECT_EQ(t.tiers[0].flags, RL_METER_F_PKTS);
    EXPECT_EQ(t.tiers[1].algo, RL_ALGO_FIXED_WINDOW);
    EXPECT_EQ(t.tiers[1].window_limit, 100u);
    EXPECT_EQ(t.tiers[1].window_ns, 60'000'000'000u);
    EXPECT_EQ(t.tiers[1].prefix_v4, 24);
    EXPECT_EQ(t.tiers[1].prefix_v6, 48);
    EXPECT_EQ(t.has_global, 1);
    EXPECT_EQ(t.global.algo, RL_ALGO_GCRA);
    EXPECT_EQ(t.global.prefix_v4, 0);
    const rl_rule& d = img.rules[img.ids.at("d")];
    EXPECT_EQ(d.action, RL_ACT_DENY);
    EXPECT_EQ(d.n_tiers, 0);
    EXPECT_EQ(std::string(img.meta[img.ids.at("t")].name), "t");
    EXPECT_EQ(std::string(img.meta[0].name), "default");
    EXPECT_EQ(img.cfg.abi_version, static_cast<uint32_t>(RL_ABI_VERSION));
    // both families' prefixes are summarised by the LPM hint; rule t blocks
    EXPECT_EQ(img.cfg.flags,
              RL_CFG_F_L2_BYTES | RL_CFG_F_NEW_EMPTY | RL_CFG_F_HINT4 | RL_CFG_F_HINT6 | RL_CFG_F_BLOCKS);
    EXPECT_EQ(img.cfg.malformed_verdict, RL_VERDICT_PASS);
    EXPECT_EQ(img.cfg.state_full_verdict, RL_VERDICT_DROP);
    EXPECT_EQ(img.cfg.event_rate, 10u);
    EXPECT_EQ(img.cfg.event_burst, 30u);
    EXPECT_EQ(img.cfg.talker_shift, 3);
    EXPECT_EQ(img.cfg.generation, 0u);  // the daemon's
    EXPECT_EQ(img.rules.size(), static_cast<size_t>(RL_MAX_RULES));
    EXPECT_EQ(img.meta.size(), static_cast<size_t>(RL_MAX_RULES));
    // unused slots are zeroed (allow, no name)
    EXPECT_EQ(img.rules[RL_MAX_RULES - 1].action, RL_ACT_ALLOW);
    EXPECT_EQ(img.meta[RL_MAX_RULES - 1].name[0], '\0');
}

TEST(Compiler, ManagementAllowWinsEverywhereInside) {
    RuleImage img = compile(parse(R"(
defaults: {rate: 10/s}
management: {allow: [198.18.0.0/24, "2001:db8::/64"]}
rules:
  - {name: all, sources: [198.18.0.0/16], action: deny}
  - {name: v6, sources: ["2001:db8::/32"], action: deny}
  - {name: ssh, protocol: tcp, ports: [22], action: deny}
)"));
    ASSERT_TRUE(img.ids.count("management"));
    EXPECT_EQ(img.rules[img.ids.at("management")].action, RL_ACT_ALLOW);
    EXPECT_EQ(nameOf(img, classify(img, "198.18.0.9", IPPROTO_TCP, 22)), "management");
    EXPECT_EQ(nameOf(img, classify(img, "198.18.1.9", IPPROTO_TCP, 22)), "all");
    EXPECT_EQ(nameOf(img, classify(img, "203.0.113.1", IPPROTO_TCP, 22)), "ssh");
    EXPECT_EQ(nameOf(img, classify(img, "2001:db8::5", IPPROTO_TCP, 22)), "management");
    EXPECT_EQ(nameOf(img, classify(img, "2001:db8:1::5", IPPROTO_TCP, 22)), "v6");
}

TEST(Compiler, IdsAreStableAcrossReloads) {
    RuleImage a = compile(parse(R"(
rules:
  - {name: r1, sources: [10.1.0.0/16], action: deny}
  - {name: r2, sources: [10.2.0.0/16], action: deny}
  - {name: r3, sources: [10.3.0.0/16], action: deny}
)"));
    EXPECT_EQ(a.ids.at("default"), 0u);
    EXPECT_EQ(a.ids.at("r1"), 1u);
    EXPECT_EQ(a.ids.at("r2"), 2u);
    EXPECT_EQ(a.ids.at("r3"), 3u);
    // reorder, drop r2, add two: r1/r3 keep theirs, new names take the lowest free ids
    RuleImage b = compile(parse(R"(
rules:
  - {name: new1, sources: [10.4.0.0/16], action: deny}
  - {name: r3, sources: [10.3.0.0/16], action: deny}
  - {name: new2, sources: [10.5.0.0/16], action: deny}
  - {name: r1, sources: [10.1.0.0/16], action: deny}
)"), &a);
    EXPECT_EQ(b.ids.at("r1"), 1u);
    EXPECT_EQ(b.ids.at("r3"), 3u);
    EXPECT_EQ(b.ids.at("new1"), 2u);
    EXPECT_EQ(b.ids.at("new2"), 4u);
    EXPECT_FALSE(b.ids.count("r2"));
    EXPECT_EQ(std::string(b.meta[2].name), "new1");
    // and a compile from nothing hands out ids in file order
    RuleImage c = compile(parse("rules:\n  - {name: r3, sources: [10.3.0.0/16], action: deny}\n"));
    EXPECT_EQ(c.ids.at("r3"), 1u);
}

TEST(Compiler, GenerationBumpsOnlyWhenKeyStateChangesMeaning) {
    auto yaml = [](const std::string& tier) {
        return "defaults: {rate: 100/s}\nrules:\n  - {name: x, sources: [10.0.0.0/8], " + tier +
               "}\n  - {name: y, sources: [11.0.0.0/8], rate: 5/s}\n";
    };
    RuleImage g1 = compile(parse(yaml("rate: 10/s")));
    uint32_t x = g1.ids.at("x"), y = g1.ids.at("y");
    EXPECT_EQ(g1.meta[x].generation, 1u);
    EXPECT_EQ(g1.rules[x].generation, 1u);
    const struct {
        const char* tier;
        bool bump;
    } steps[] = {
        {"rate: 20/s, burst: 100", false},                          // same algo and key: keep state
        {"rate: 20/s, bytes_rate: 1MB/s", false},                   // added a dimension, same algo
        {"rate: 20/s, key: {ipv4_prefix: 24}", true},               // key prefix changed
        {"rate: 20/s, key: {ipv4_prefix: 24, ipv6_prefix: 56}", true},
        {"algorithm: gcra, rate: 20/s, key: {ipv4_prefix: 24, ipv6_prefix: 56}", true},  // algo changed
        {"algorithm: gcra, rate: 30/s, key: {ipv4_prefix: 24, ipv6_prefix: 56}", false},
        {"tiers: [{algorithm: gcra, rate: 30/s, key: {ipv4_prefix: 24, ipv6_prefix: 56}}, {rate: 1/s}]", true},
        {"tiers: [{algorithm: gcra, rate: 30/s, key: {ipv4_prefix: 24, ipv6_prefix: 56}}, {rate: 2/s}], "
         "global: {rate: 1000/s}", false},                        // the ceiling is not key state
        {"tiers: [{algorithm: gcra, rate: 30/s, key: {ipv4_prefix: 24, ipv6_prefix: 56}}, {rate: 2/s}], "
         "global: {rate: 2000/s}", false},
        {"action: deny", true},
    };
    RuleImage prev = g1;
    uint64_t gen = 1;
    for (const auto& s : steps) {
        RuleImage next = compile(parse(yaml(s.tier)), &prev);
        EXPECT_EQ(next.ids.at("x"), x) << s.tier;
        gen += s.bump ? 1 : 0;
        EXPECT_EQ(next.meta[x].generation, gen) << s.tier;
        EXPECT_EQ(next.rules[x].generation, static_cast<uint32_t>(gen)) << s.tier;
        EXPECT_EQ(next.meta[y].generation, 1u) << s.tier;  // untouched rule keeps its state
        prev = next;
    }
}

TEST(Compiler, FreedIdKeepsItsGenerationForTheNextOwner) {
    RuleImage a = compile(parse("rules:\n  - {name: old, sources: [10.0.0.0/8], rate: 1/s}\n"));
    uint32_t id = a.ids.at("old");
    EXPECT_EQ(a.meta[id].generation, 1u);
    RuleImage b = compile(parse("rules: []\n"), &a);
    EXPECT_EQ(b.meta[id].name[0], '\0');
    EXPECT_EQ(b.meta[id].generation, 1u);
    RuleImage c = compile(parse("rules:\n  - {name: new, sources: [10.0.0.0/8], rate: 1/s}\n"), &b);
    EXPECT_EQ(c.ids.at("new"), id);
    EXPECT_EQ(c.meta[id].generation, 2u);  // stale key state of "old" (generation 1) is not reused
    // renaming is a new rule in a taken slot
    RuleImage d = compile(parse("rules:\n  - {name: renamed, sources: [10.0.0.0/8], rate: 1/s}\n"), &c);
    EXPECT_EQ(d.ids.at("renamed"), id);
    EXPECT_EQ(d.meta[id].generation, 3u);
}

TEST(Compiler, MatchListOverflowNamesTheRule) {
    // 7 port ranges at /16 plus 2 inherited from /8: the 9th candidate is cut
    std::string yaml = R"(
rules:
  - {name: many, sources: [10.1.0.0/16], protocol: tcp, ports: [1, 2, 3, 4, 5, 6, 7], action: deny}
  - {name: outer, sources: [10.0.0.0/8], protocol: udp, ports: [53, 54], action: deny}
)";
    auto o = parseConfigText(yaml);
    EXPECT_FALSE(o.config);
    ASSERT_EQ(o.errors.size(), 1u);
    EXPECT_EQ(o.errors[0].line, 4);
    EXPECT_EQ(o.errors[0].column, 5);
    EXPECT_NE(o.errors[0].message.find("source 10.1.0.0/16 has 9 candidate matches"), std::string::npos)
        << o.errors[0].message;
    EXPECT_NE(o.errors[0].message.find("rule 'outer' (ports 54) would be cut off"), std::string::npos)
        << o.errors[0].message;
    // exactly RL_MAX_MATCH fits
    Config ok = parse(R"(
rules:
  - {name: many, sources: [10.1.0.0/16], protocol: tcp, ports: [1, 2, 3, 4, 5, 6], action: deny}
  - {name: outer, sources: [10.0.0.0/8], protocol: udp, ports: [53, 54], action: deny}
)");
    RuleImage img = compile(ok);
    EXPECT_EQ(nameOf(img, classify(img, "10.1.0.1", IPPROTO_UDP, 54)), "outer");
}

TEST(Compiler, RefusesTooManyRules) {
    Config c;
    c.default_rule.name = "default";
    c.default_rule.action = RL_ACT_ALLOW;
    for (int i = 0; i < RL_MAX_RULES - 1; i++) {
        RuleConfig r;
        r.name = "r" + std::to_string(i);
        r.action = RL_ACT_DENY;
        r.sources.push_back(*parseCidr("10." + std::to_string(i) + ".0.0/16"));
        c.rules.push_back(r);
    }
    auto full = compileRules(c, nullptr);
    ASSERT_TRUE(full) << full.error().message();
    EXPECT_EQ(full->ids.size(), static_cast<size_t>(RL_MAX_RULES));
    c.management_allow.push_back(*parseCidr("192.0.2.0/24"));
    auto over = compileRules(c, nullptr);
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().message().find("255 rules configured plus the management rule; at most 254 fit"),
              std::string::npos)
        << over.error().message();
}

TEST(Compiler, RefusesMorePrefixesThanTheLpmMapHolds) {
    Config c = builtinDefaultConfig();
    RuleConfig r;
    r.name = "many";
    r.action = RL_ACT_DENY;
    for (uint32_t i = 0; i < RL_LPM_MAX_ENTRIES; i++) {
        Cidr s;
        s.addr.family = 4;
        s.addr.bytes[0] = 10;
        s.addr.bytes[1] = static_cast<uint8_t>(i >> 8);
        s.addr.bytes[2] = static_cast<uint8_t>(i);
        s.prefix_len = 24;
        r.sources.push_back(s);
    }
    c.rules.push_back(r);
    auto fits = compileRules(c, nullptr);
    ASSERT_TRUE(fits) << fits.error().message();
    EXPECT_EQ(fits->lpm4.size(), static_cast<size_t>(RL_LPM_MAX_ENTRIES));
    c.rules[0].sources.push_back(*parseCidr("11.0.0.0/8"));
    auto over = compileRules(c, nullptr);
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().message().find("16385 IPv4 source prefixes; at most 16384 fit"), std::string::npos)
        << over.error().message();
}

TEST(Compiler, UnnamedDefaultRuleIsTheDefault) {
    Config c;  // as code builds it: default_rule.name left empty
    c.default_rule.action = RL_ACT_DENY;
    auto img = compileRules(c, nullptr);
    ASSERT_TRUE(img) << img.error().message();
    EXPECT_EQ(img->ids.at("default"), 0u);
    EXPECT_EQ(std::string(img->meta[0].name), "default");
    EXPECT_EQ(img->rules[0].action, RL_ACT_DENY);
    c.default_rule.name = "other";
    auto bad = compileRules(c, nullptr);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("the default rule must be named 'default', not 'other'"), std::string::npos);
    Config limit;  // a limit default rule needs a meter
    auto none = compileRules(limit, nullptr);
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message().find("rule 'default': a limit rule needs at least one meter"), std::string::npos)
        << none.error().message();
}

TEST(Compiler, RejectsRulesBuiltOutsideTheParser) {
    // the daemon's rules.add path builds RuleConfig itself: the compiler checks again
    struct Case {
        const char* name;
        void (*mutate)(RuleConfig&);
        const char* message;
    } cases[] = {
        {"no tiers", [](RuleConfig& r) { r.tiers.clear(); }, "a limit rule needs at least one meter"},
        {"bad meter", [](RuleConfig& r) { r.tiers[0].packets = Rate{0, 0}; }, "tier 1: token bucket"},
        {"bad name", [](RuleConfig& r) { r.name = "has space"; }, "must be 1-47 characters"},
        {"reserved", [](RuleConfig& r) { r.name = "management"; }, "is reserved"},
        {"ports no proto", [](RuleConfig& r) { r.ports.push_back({1, 2}); }, "ports need protocol tcp or udp"},
        {"block without duration", [](RuleConfig& r) { r.on_exceed = RL_EXCEED_BLOCK; },
         "on_exceed block needs a block duration"},
        {"five tiers", [](RuleConfig& r) { r.tiers.resize(5, r.tiers[0]); }, "has 5 tiers; at most 4"},
    };
    for (const auto& c : cases) {
        Config cfg = builtinDefaultConfig();
        RuleConfig r;
        r.name = "x";
        r.sources.push_back(*parseCidr("10.0.0.0/8"));
        r.tiers.push_back(cfg.default_rule.tiers[0]);
        r.where = {7, 3};
        c.mutate(r);
        cfg.rules.push_back(r);
        auto res = compileRules(cfg, nullptr);
        ASSERT_FALSE(res) << c.name;
        EXPECT_NE(res.error().message().find(c.message), std::string::npos) << c.name << ": " << res.error().message();
        auto issues = checkRules(cfg);
        ASSERT_FALSE(issues.empty()) << c.name;
        EXPECT_EQ(issues[0].where.line, 7) << c.name;
    }
}

}  // namespace
}  // namespace ratelimit

namespace ratelimit {
namespace {

TEST(Compiler, DiffTouchesOnlyWhatChanged) {
    const char* v1 = R"(
rules:
  - {name: a, sources: [10.0.0.0/8], rate: 10/s}
  - {name: b, sources: [11.0.0.0/8, "2001:db8::/32"], rate: 10/s}
  - {name: c, sources: [12.0.0.0/8], action: deny}
)";
    RuleImage one = compile(parse(v1));
    ImageDiff all = diffImages(nullptr, one);
    EXPECT_EQ(all.rules.size(), 4u);  // default, a, b, c
    EXPECT_EQ(all.meta.size(), static_cast<size_t>(RL_MAX_RULES));
    EXPECT_EQ(all.lpm4_upsert.size(), 3u);
    EXPECT_EQ(all.lpm6_upsert.size(), 1u);
    EXPECT_TRUE(all.cfg);

    EXPECT_TRUE(diffImages(&one, compile(parse(v1), &one)).empty());

    // a: new rate (rule changes, LPM does not); b: loses its v6 source; c: removed; d: new
    RuleImage two = compile(parse(R"(
rules:
  - {name: a, sources: [10.0.0.0/8], rate: 20/s}
  - {name: b, sources: [11.0.0.0/8], rate: 10/s}
  - {name: d, sources: [13.0.0.0/8], action: deny}
)"), &one);
    ImageDiff d = diffImages(&one, two);
    std::vector<uint32_t> changed = {two.ids.at("a"), two.ids.at("d")};
    std::sort(changed.begin(), changed.end());
    EXPECT_EQ(d.rules, changed);
    EXPECT_TRUE(d.freed.empty());  // c's id went to d
    EXPECT_EQ(d.meta, (std::vector<uint32_t>{two.ids.at("d")}));
    ASSERT_EQ(d.lpm4_upsert.size(), 1u);  // 13/8
    EXPECT_EQ(d.lpm4_upsert[0].first, 8u);
    ASSERT_EQ(d.lpm4_delete.size(), 1u);  // 12/8
    EXPECT_EQ(d.lpm6_delete.size(), 1u);
    EXPECT_TRUE(d.lpm6_upsert.empty());
    EXPECT_FALSE(d.cfg);

    RuleImage three = compile(parse("rules:\n  - {name: a, sources: [10.0.0.0/8], rate: 20/s}\n"), &two);
    ImageDiff e = diffImages(&two, three);
    EXPECT_TRUE(e.rules.empty());
    EXPECT_EQ(e.freed.size(), 2u);
    EXPECT_EQ(e.meta.size(), 2u);
}

}  // namespace
}  // namespace ratelimit
