// The daemon: composition root that wires config, rules compiler, loader,
// maps and the control server, and runs the event loop (epoll over a
// signalfd, a timerfd, the control server and the event ring buffer).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stop_token>
#include <thread>
#include <variant>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "control/server.hpp"
#include "loader/loader.hpp"
#include "maps/known_filter.hpp"
#include "maps/maps.hpp"
#include "rules/compiler.hpp"
#include "stats/metrics_server.hpp"
#include "stats/published_state.hpp"
#include "util/fd.hpp"

namespace ratelimit {

inline constexpr const char* kDefaultConfigPath = "/etc/ratelimit/ratelimit.yaml";

struct DaemonArgs {
    std::string config_path = kDefaultConfigPath;
    bool config_explicit = false;            // --config given: the file must exist
    std::vector<InterfaceConfig> interfaces; // --interface (replaces the config's list)
    std::optional<std::string> pin_path;
    std::optional<std::string> socket_path;
    std::optional<std::string> check_config; // --check-config FILE
    std::optional<std::string> log_level;
    mode_t socket_mode = 0660;
    bool detach_on_exit = false;
    bool force_reset = false;
    bool force_lockout = false;              // start even if an SSH client would be unprotected
    bool foreground = false;                 // accepted for compatibility: we never fork
};

// Parses argv; on --help/usage errors prints and returns the exit code in *exit_code.
std::optional<DaemonArgs> parseDaemonArgs(int argc, char** argv, int* exit_code);
// --check-config: prints every error with line:column; 0 if valid, 1 if not.
int checkConfigFile(const std::string& path);
int runDaemon(const DaemonArgs& args);

struct AclEntry {
    std::string list;            // "allow" | "deny"
    Cidr cidr;
    uint64_t expires_ns = 0;     // CLOCK_MONOTONIC; 0 = never
    std::string name;            // name of the runtime rule that implements it
};

class Daemon : public ControlServer::Handler {
public:
    explicit Daemon(DaemonArgs args);
    ~Daemon() override;
    int run();

    // commands: a Json result or an error with a protocol code
    struct CmdError {
        std::string code, message;
    };
    using CmdResult = std::variant<Json, CmdError>;

    // ControlServer::Handler
    void onRequest(ConnId conn, const Peer& peer, const Request& req) override;
    void onStreamEnd(ConnId conn) override;

private:
    struct Subscription {
        enum Kind { Top, Stats, Events } kind = Stats;
        Json id;
        uint64_t interval_ns = 1'000'000'000;
        uint64_t next_ns = 0;
        size_t n = 20;
        std::string sort = "drops";
        uint64_t last_ns = 0;
        std::vector<rl_counter> last_stats;
        std::vector<uint64_t> last_global;
        std::map<std::string, TalkerSample> last_talkers;
    };

    // setup and teardown
    Status loadInitialConfig();
    Status setup();
    void shutdown();
    void maintainKnownFilter(std::stop_token stop);
    Status attachConfigured();
    // configuration
    Config merged() const;
    Result<uint64_t> apply(const Config& cfg);
    Result<uint64_t> reload(const std::string& path, std::vector<ConfigError>* errors, bool force = false);
    Status guardLockout(Config& cfg, bool force);  // app/lockout.hpp
    void recoverImage();
    std::string ruleName(uint32_t id) const;
    bool peerMayChange(const Peer& p) const;
    gid_t controlGid() const;
    // loop
    void loop();
    void onSignal();
    void onTimer();
    void onEvent(const rl_event& ev);
    void notifyStatus();
    uint64_t nowNs() const;
    void expireAcl();
    void checkAttachments();
    void snapshotTalkers();

    CmdResult cmdStatus();
    CmdResult cmdRulesList();
    CmdResult cmdRulesAdd(const Json& args);
    CmdResult cmdRulesDelete(const Json& args);
    CmdResult cmdAclAdd(const Json& args);
    CmdResult cmdAclRemove(const Json& args);
    CmdResult cmdAclList();
    CmdResult cmdKeysShow(const Json& args);
    CmdResult cmdTop(const Json& args);
    CmdResult cmdStats();
    CmdResult cmdReload(const Json& args);
    CmdResult cmdConfigCheck(const Json& args, const Peer& peer);
    CmdResult cmdAttach(const Json& args);
    CmdResult cmdDetach(const Json& args);
    CmdResult subscribe(ConnId conn, const Request& req);
    Json statsJson(const std::vector<rl_counter>& cells, const std::vector<uint64_t>& global) const;
    Json topJson(const std::map<std::string, TalkerSample>& prev, uint64_t prev_ns,
                 const std::map<std::string, TalkerSample>& cur, uint64_t cur_ns, size_t n,
                 const std::string& sort) const;
    void pushStreams(uint64_t now);
    std::vector<ConnId> subscribers() const;
    CmdResult applyRuntimeChange(const std::string& what);

    DaemonArgs args_;
    Config config_;                      // as loaded from the file (+ command-line overrides)
    std::string config_path_;
    bool config_from_file_ = false;
    std::vector<RuleConfig> runtime_rules_;      // rules.add
    std::set<std::string> deleted_rules_;        // config rules removed by rules.delete
    std::vector<AclEntry> acl_;
    RuleImage image_;
    bool have_image_ = false;
    uint64_t generation_ = 0;
    uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
    std::string last_reload_error_;

    std::unique_ptr<Loader> loader_;
    std::unique_ptr<Maps> maps_;
    std::unique_ptr<EventReader> events_;
    std::unique_ptr<ControlServer> server_;
    // metrics: declared after maps_ so that the server (and its scrapes) stop first
    std::shared_ptr<PublishedState> metrics_state_ = std::make_shared<PublishedState>();
    std::unique_ptr<MetricsServer> metrics_;
    UniqueFd epfd_, sigfd_, timerfd_;
    bool stop_ = false;
    uint64_t start_ns_ = 0;
    uint64_t watchdog_usec_ = 0, next_watchdog_ns_ = 0;
    uint64_t next_talker_ns_ = 0;
    uint64_t talk_prev_ns_ = 0, talk_cur_ns_ = 0;
    std::map<std::string, TalkerSample> talk_prev_, talk_cur_;
    std::map<std::string, uint64_t> talk_changed_ns_;   // last time a talker's count moved
    std::map<ConnId, Subscription> subs_;
    uint64_t events_seen_ = 0;
    uint64_t next_attach_check_ns_ = 0;
    std::set<std::string> if_gone_;              // configured interfaces seen missing (logged once)
    // rl_known's builder: a thread, because a walk of 1M keys takes ~0.3 s;
    // last, so that it stops before the maps it walks go away
    std::unique_ptr<KnownFilter> known_;
    std::jthread known_thread_;
};

}  // namespace ratelimit
