// toFamilies(): snapshot -> Prometheus families, without the kernel.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <string>

#include "stats/collector.hpp"

namespace ratelimit {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

using Labels = std::map<std::string, std::string>;

const MetricFamily* find(const std::vector<MetricFamily>& fs, const std::string& name) {
    for (const auto& f : fs)
        if (f.name == name) return &f;
    return nullptr;
}

// Value of the sample with exactly these labels; fails the test if absent.
double value(const std::vector<MetricFamily>& fs, const std::string& name, const Labels& want) {
    const MetricFamily* f = find(fs, name);
    if (!f) {
        ADD_FAILURE() << "no family " << name;
        return -1;
    }
    for (const auto& m : f->metric) {
        Labels got;
        for (const auto& l : m.label) got[l.name] = l.value;
        if (got == want) return f->type == MetricType::Counter ? m.counter.value : m.gauge.value;
    }
    ADD_FAILURE() << "no sample " << name << " with the given labels";
    return -1;
}

StatsSnapshot baseSnapshot() {
    StatsSnapshot s;
    s.counters.assign(RL_STATS_ENTRIES, rl_counter{});
    s.gcounters.assign(RL_GC__MAX, 0);
    s.cfg = rl_config{};
    s.cfg->malformed_verdict = RL_VERDICT_DROP;
    s.cfg->state_full_verdict = RL_VERDICT_PASS;
    s.cfg->generation = 7;
    s.rule_names.assign(RL_MAX_RULES, "");
    s.rule_names[0] = "default";
    s.rule_names[3] = "web";
    return s;
}

TEST(Collector, CountersCarryRuleReasonAndVerdict) {
    struct Case {
        uint32_t rule;
        uint32_t reason;
        uint64_t packets, bytes;
        std::string rule_label, reason_label, verdict;
    };
    const Case cases[] = {
        {3, RL_REASON_PASS, 10, 1000, "web", "pass", "pass"},
        {3, RL_REASON_DROP_RATE, 5, 500, "web", "rate", "drop"},
        {3, RL_REASON_SHADOW_RATE, 4, 400, "web", "shadow_rate", "pass"},
        {0, RL_REASON_DROP_BLOCKED, 2, 200, "default", "blocked", "drop"},
        {0, RL_REASON_OVERRIDE_BLOCK, 1, 64, "default", "override_block", "drop"},
        {RL_RULE_NONE, RL_REASON_NON_IP, 9, 540, "(none)", "non_ip", "pass"},
        {RL_RULE_NONE, RL_REASON_MALFORMED, 3, 42, "(none)", "malformed", "drop"},  // cfg: drop
        {3, RL_REASON_STATE_FULL, 6, 360, "web", "state_full", "pass"},             // cfg: pass
        {17, RL_REASON_DROP_DENY, 8, 800, "#17", "deny", "drop"},                   // unnamed slot
    };
    StatsSnapshot s = baseSnapshot();
    for (const auto& c : cases) s.counters[size_t{c.rule} * RL_REASON__MAX + c.reason] = {c.packets, c.bytes};
    auto fs = toFamilies(s, 0.001);
    for (const auto& c : cases) {
        Labels l{{"rule", c.rule_label}, {"reason", c.reason_label}, {"verdict", c.verdict}};
        EXPECT_EQ(value(fs, "ratelimit_packets_total", l), double(c.packets)) << c.rule_label << "/" << c.reason_label;
        EXPECT_EQ(value(fs, "ratelimit_bytes_total", l), double(c.bytes)) << c.rule_label << "/" << c.reason_label;
    }
    // Named rules and (none) export every reason, zeros included; the unnamed
    // slot only its non-zero cell.
    EXPECT_EQ(find(fs, "ratelimit_packets_total")->metric.size(), size_t{3 * RL_REASON__MAX + 1});
    EXPECT_EQ(find(fs, "ratelimit_packets_total")->type, MetricType::Counter);
}

TEST(Collector, ConfigurableVerdictsFollowRlCfg) {
    struct Case {
        uint8_t malformed, state_full;
        std::string want_malformed, want_state_full;
    };
    const Case cases[] = {
        {RL_VERDICT_DROP, RL_VERDICT_PASS, "drop", "pass"},
        {RL_VERDICT_PASS, RL_VERDICT_DROP, "pass", "drop"},
    };
    for (const auto& c : cases) {
        rl_config cfg{};
        cfg.malformed_verdict = c.malformed;
        cfg.state_full_verdict = c.state_full;
        EXPECT_EQ(verdictLabel(RL_REASON_MALFORMED, &cfg), c.want_malformed);
        EXPECT_EQ(verdictLabel(RL_REASON_STATE_FULL, &cfg), c.want_state_full);
    }
}

TEST(Collector, GlobalCountersKeysAndDaemonState) {
    StatsSnapshot s = baseSnapshot();
    for (uint32_t i = 0; i < RL_GC__MAX; i++) s.gcounters[i] = 100 + i;
    s.v4 = {900, 1 << 20, 12, 65536};
    s.v6 = {30, 1 << 20, 0, 65536};
    s.evictions = 44;
    s.attachments = {{"veth0", "native", true}, {"veth1", "generic", false}};
    s.reloads = ReloadSnapshot{3, 1, false, 1.7e9};
    s.known = KnownSnapshot{true, 4, 123456, 0.0625};
    auto fs = toFamilies(s, 0.25);

    EXPECT_EQ(value(fs, "ratelimit_key_inserts_total", {}), 100 + RL_GC_KEY_INSERT);
    EXPECT_EQ(value(fs, "ratelimit_key_insert_failures_total", {}), 100 + RL_GC_KEY_INSERT_FAIL);
    EXPECT_EQ(value(fs, "ratelimit_block_inserts_total", {}), 100 + RL_GC_BLOCK_INSERT);
    EXPECT_EQ(value(fs, "ratelimit_block_insert_failures_total", {}), 100 + RL_GC_BLOCK_INSERT_FAIL);
    EXPECT_EQ(value(fs, "ratelimit_events_total", {{"outcome", "sent"}}), 100 + RL_GC_EVENT_SENT);
    EXPECT_EQ(value(fs, "ratelimit_events_total", {{"outcome", "lost"}}), 100 + RL_GC_EVENT_LOST);
    EXPECT_EQ(value(fs, "ratelimit_events_total", {{"outcome", "suppressed"}}), 100 + RL_GC_EVENT_SUPPRESSED);
    EXPECT_EQ(value(fs, "ratelimit_cas_exhausted_total", {}), 100 + RL_GC_CAS_EXHAUSTED);
    EXPECT_EQ(value(fs, "ratelimit_keys_tracked", {{"family", "ipv4"}}), 900);
    EXPECT_EQ(value(fs, "ratelimit_keys_tracked", {{"family", "ipv6"}}), 30);
    EXPECT_EQ(value(fs, "ratelimit_keys_capacity", {{"family", "ipv4"}}), 1 << 20);
    EXPECT_EQ(value(fs, "ratelimit_keys_blocked", {{"family", "ipv4"}}), 12);
    EXPECT_EQ(value(fs, "ratelimit_keys_blocked_capacity", {{"family", "ipv6"}}), 65536);
    EXPECT_EQ(value(fs, "ratelimit_key_evictions_total", {}), 44);
    EXPECT_EQ(value(fs, "ratelimit_program_attached", {{"interface", "veth0"}, {"mode", "native"}}), 1);
    EXPECT_EQ(value(fs, "ratelimit_program_attached", {{"interface", "veth1"}, {"mode", "generic"}}), 0);
    EXPECT_EQ(value(fs, "ratelimit_config_generation", {}), 7);
    EXPECT_EQ(value(fs, "ratelimit_config_reloads_total", {{"result", "success"}}), 3);
    EXPECT_EQ(value(fs, "ratelimit_config_reloads_total", {{"result", "failure"}}), 1);
    EXPECT_EQ(value(fs, "ratelimit_config_last_reload_successful", {}), 0);
    EXPECT_EQ(value(fs, "ratelimit_config_last_reload_timestamp_seconds", {}), 1.7e9);
    EXPECT_EQ(value(fs, "ratelimit_known_filter_built", {}), 1);
    EXPECT_EQ(value(fs, "ratelimit_known_filter_builds_total", {}), 4);
    EXPECT_EQ(value(fs, "ratelimit_known_filter_build_keys", {}), 123456);
    EXPECT_EQ(value(fs, "ratelimit_known_filter_fill_ratio", {}), 0.0625);
    EXPECT_EQ(value(fs, "ratelimit_build_info", {{"version", RL_VERSION}, {"abi", std::to_string(RL_ABI_VERSION)}}),
              1);
    EXPECT_EQ(value(fs, "ratelimit_scrape_duration_seconds", {}), 0.25);
}

// Prometheus conventions: prefix, _total on counters only, unique family names,
// label names from the bounded set, no label value that looks like an address.
TEST(Collector, NamingConventions) {
    StatsSnapshot s = baseSnapshot();
    s.v4 = {1, 2, 3, 4};
    s.v6 = {1, 2, 3, 4};
    s.evictions = 0;
    s.attachments = {{"veth0", "native", true}};
    s.reloads = ReloadSnapshot{};
    auto fs = toFamilies(s, 0);
    const std::set<std::string> allowed = {"rule",   "reason", "verdict", "family",  "interface",
                                           "mode",   "outcome", "result", "version", "abi"};
    const std::regex address(R"(^\d+\.\d+\.\d+\.\d+$|:.*:)");
    std::set<std::string> names;
    for (const auto& f : fs) {
        EXPECT_TRUE(names.insert(f.name).second) << "duplicate family " << f.name;
        EXPECT_EQ(f.name.rfind("ratelimit_", 0), 0u) << f.name;
        bool total = f.name.size() > 6 && f.name.compare(f.name.size() - 6, 6, "_total") == 0;
        EXPECT_EQ(total, f.type == MetricType::Counter) << f.name;
        EXPECT_FALSE(f.help.empty()) << f.name;
        EXPECT_FALSE(f.metric.empty()) << f.name;
        for (const auto& m : f.metric)
            for (const auto& l : m.label) {
                EXPECT_TRUE(allowed.count(l.name)) << f.name << " label " << l.name;
                EXPECT_FALSE(std::regex_search(l.value, address)) << f.name << " " << l.name << "=" << l.value;
            }
    }
    // A failed read leaves the metric out rather than exporting a fake zero.
    StatsSnapshot empty;
    auto none = toFamilies(empty, 0);
    EXPECT_EQ(find(none, "ratelimit_packets_total"), nullptr);
    EXPECT_EQ(find(none, "ratelimit_keys_tracked"), nullptr);
    EXPECT_NE(find(none, "ratelimit_build_info"), nullptr);
}

TEST(Collector, RuleLabels) {
    std::vector<std::string> names(RL_MAX_RULES);
    names[5] = "api";
    EXPECT_EQ(ruleLabel(5, names), "api");
    EXPECT_EQ(ruleLabel(RL_RULE_DEFAULT, names), "default");
    EXPECT_EQ(ruleLabel(6, names), "#6");
    EXPECT_EQ(ruleLabel(RL_RULE_NONE, names), "(none)");
}

}  // namespace
}  // namespace ratelimit

namespace ratelimit {
namespace {

// The daemon publishes running totals after start-up and after every reload;
// the outcome of the last one and the time of the last success follow.
TEST(PublishedState, ReloadOutcomeFromRunningTotals) {
    PublishedState p;
    EXPECT_FALSE(p.published());
    p.publish({{"veth0", "native", 7}}, 0, 0);  // start-up
    ReloadSnapshot r = p.reloads();
    EXPECT_TRUE(r.last_ok);
    EXPECT_GT(r.last_success_unix_s, 0);
    double started = r.last_success_unix_s;

    struct Step {
        uint64_t ok, failed;
        bool want_last_ok;
        bool want_new_timestamp;
    };
    const Step steps[] = {
        {0, 1, false, false},  // refused
        {0, 1, false, false},  // attach/detach only: unchanged
        {1, 1, true, true},    // applied
        {1, 2, false, false},
    };
    for (const auto& st : steps) {
        double before = p.reloads().last_success_unix_s;
        p.publish({{"veth0", "native", 7}}, st.ok, st.failed);
        r = p.reloads();
        EXPECT_EQ(r.successes, st.ok);
        EXPECT_EQ(r.failures, st.failed);
        EXPECT_EQ(r.last_ok, st.want_last_ok) << st.ok << "/" << st.failed;
        if (st.want_new_timestamp)
            EXPECT_GE(r.last_success_unix_s, started);
        else
            EXPECT_EQ(r.last_success_unix_s, before);
    }
    ASSERT_EQ(p.attachments().size(), 1u);
    EXPECT_EQ(p.attachments()[0].prog_id, 7u);
}

}  // namespace
}  // namespace ratelimit

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stats/metrics_server.hpp"

namespace ratelimit {
namespace {

// GET /metrics over a plain socket; returns the whole response.
std::string httpGet(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return {};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
        const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (write(fd, req, sizeof(req) - 1) == ssize_t(sizeof(req) - 1)) {
            char buf[4096];
            for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out.append(buf, size_t(n));
        }
    }
    close(fd);
    return out;
}

// Without maps the exporter still serves what it knows; a taken port is an
// error value, not an exception.
TEST(MetricsServer, ServesCollectorAndReportsBindFailure) {
    auto server = MetricsServer::start("127.0.0.1:0", std::make_shared<Collector>(Collector::Options{}));
    ASSERT_TRUE(server) << server.error().message();
    uint16_t port = (*server)->port();
    ASSERT_GT(port, 0);
    std::string body = httpGet(port);
    EXPECT_NE(body.find("ratelimit_build_info{"), std::string::npos) << body;
    EXPECT_NE(body.find("ratelimit_scrape_duration_seconds "), std::string::npos) << body;
    EXPECT_EQ(body.find("ratelimit_packets_total"), std::string::npos);  // no maps: left out

    auto second = MetricsServer::start("127.0.0.1:" + std::to_string(port),
                                       std::make_shared<Collector>(Collector::Options{}));
    EXPECT_FALSE(second);
    auto bad = MetricsServer::start("no-port", std::make_shared<Collector>(Collector::Options{}));
    EXPECT_FALSE(bad);
}

}  // namespace
}  // namespace ratelimit
