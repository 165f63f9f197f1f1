#include "app/daemon.hpp"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "app/lockout.hpp"
#include "app/views.hpp"
#include "stats/collector.hpp"
#include "util/caps.hpp"
#include "util/log.hpp"

namespace ratelimit {
namespace {

constexpr uint64_t kTickNs = 100'000'000;          // event loop timer: 100 ms
constexpr uint64_t kTalkerSnapshotNs = 1'000'000'000;
constexpr uint64_t kAttachCheckNs = 1'000'000'000;   // configured interfaces gone or back
constexpr uint64_t kTalkerIdleNs = 60'000'000'000;      // talkers silent this long are deleted
enum EpollTag : uint64_t { kTagSignal = 1, kTagTimer, kTagServer, kTagEvents };

uint64_t monoNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * RL_NSEC_PER_SEC + static_cast<uint64_t>(ts.tv_nsec);
}

bool fileExists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}

void printErrors(const std::string& path, const std::vector<ConfigError>& errors) {
    for (const auto& e : errors)
        fprintf(stderr, "%s:%d:%d: error: %s\n", path.c_str(), e.line, e.column, e.message.c_str());
}

void usage(FILE* out) {
    fprintf(out,
            "usage: ratelimitd [--config FILE] [--interface IF[:auto|native|generic]]...\n"
            "                  [--pin-path DIR] [--socket PATH] [--socket-mode OCTAL]\n"
            "                  [--log-level debug|info|warn|error] [--detach-on-exit]\n"
            "                  [--force-reset] [--force-lockout] [--foreground]\n"
            "       ratelimitd --check-config FILE\n"
            "\n"
            "  --config FILE        configuration (default %s; built-in defaults if absent)\n"
            "  --interface IF[:M]   attach to IF (repeatable; replaces the config's interfaces)\n"
            "  --pin-path DIR       bpffs directory for pinned maps and program\n"
            "  --socket PATH        control socket\n"
            "  --socket-mode OCTAL  control socket permissions (default 0660)\n"
            "  --detach-on-exit     detach XDP on shutdown (default: keep enforcing)\n"
            "  --force-reset        discard incompatible pinned state instead of refusing to start\n"
            "  --force-lockout      start even if the configuration leaves a detected SSH client\n"
            "                       unprotected (management.protect_ssh: false)\n"
            "  --check-config FILE  validate FILE, print every error as FILE:LINE:COL, exit 0/1\n",
            kDefaultConfigPath);
}

}  // namespace

std::optional<DaemonArgs> parseDaemonArgs(int argc, char** argv, int* exit_code) {
    enum { kConfig = 256, kIface, kPin, kSocket, kSocketMode, kCheck, kDetach, kForce, kFg, kLog, kHelp, kForceLockout };
    static const option opts[] = {
        {"config", required_argument, nullptr, kConfig},
        {"interface", required_argument, nullptr, kIface},
        {"pin-path", required_argument, nullptr, kPin},
        {"socket", required_argument, nullptr, kSocket},
        {"socket-mode", required_argument, nullptr, kSocketMode},
        {"check-config", required_argument, nullptr, kCheck},
        {"detach-on-exit", no_argument, nullptr, kDetach},
        {"force-reset", no_argument, nullptr, kForce},
        {"force-lockout", no_argument, nullptr, kForceLockout},
        {"foreground", no_argument, nullptr, kFg},
        {"log-level", required_argument, nullptr, kLog},
        {"help", no_argument, nullptr, kHelp},
        {nullptr, 0, nullptr, 0},
    };
    DaemonArgs a;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:i:h", opts, nullptr)) != -1) {
        switch (c) {
        case 'c':
        case kConfig:
            a.config_path = optarg;
            a.config_explicit = true;
            break;
        case 'i':
        case kIface: {
            std::string s = optarg;
            InterfaceConfig ic;
            auto colon = s.find(':');
            ic.name = s.substr(0, colon);
            if (colon != std::string::npos) {
                auto m = parseXdpMode(s.substr(colon + 1));
                if (!m) {
                    fprintf(stderr, "ratelimitd: --interface %s: %s\n", s.c_str(), m.error().message().c_str());
                    *exit_code = 2;
                    return std::nullopt;
                }
                ic.mode = *m;
            }
            if (ic.name.empty()) {
                fprintf(stderr, "ratelimitd: --interface needs a name\n");
                *exit_code = 2;
                return std::nullopt;
            }
            a.interfaces.push_back(ic);
            break;
        }
        case kPin: a.pin_path = optarg; break;
        case kSocket: a.socket_path = optarg; break;
        case kSocketMode: a.socket_mode = static_cast<mode_t>(strtoul(optarg, nullptr, 8) & 07777); break;
        case kCheck: a.check_config = optarg; break;
        case kDetach: a.detach_on_exit = true; break;
        case kForce: a.force_reset = true; break;
        case kForceLockout: a.force_lockout = true; break;
        case kFg: a.foreground = true; break;
        case kLog: {
            LogLevel l;
            if (!parseLogLevel(optarg, &l)) {
                fprintf(stderr, "ratelimitd: unknown log level '%s'\n", optarg);
                *exit_code = 2;
                return std::nullopt;
            }
            a.log_level = optarg;
            break;
        }
        case 'h':
        case kHelp:
            usage(stdout);
            *exit_code = 0;
            return std::nullopt;
        default:
            usage(stderr);
            *exit_code = 2;
            return std::nullopt;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ratelimitd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        *exit_code = 2;
        return std::nullopt;
    }
    return a;
}

int checkConfigFile(const std::string& path) {
    if (!fileExists(path)) {
        fprintf(stderr, "%s:0:0: error: cannot read file: %s\n", path.c_str(), strerror(errno));
        return 1;
    }
    ParseOutcome out = parseConfigFile(path);
    if (!out.errors.empty() || !out.config) {
        printErrors(path, out.errors);
        if (out.errors.empty()) fprintf(stderr, "%s:0:0: error: invalid configuration\n", path.c_str());
        return 1;
    }
    auto img = compileRules(*out.config, nullptr);
    if (!img) {
        fprintf(stderr, "%s:0:0: error: %s\n", path.c_str(), img.error().message().c_str());
        return 1;
    }
    printf("%s: valid (%zu rules)\n", path.c_str(), out.config->rules.size() + 1);
    return 0;
}

int runDaemon(const DaemonArgs& args) {
    Daemon d(args);
    return d.run();
}

// ---- Daemon -------------------------------------------------------------------

Daemon::Daemon(DaemonArgs args) : args_(std::move(args)) {}
Daemon::~Daemon() = default;

uint64_t Daemon::nowNs() const { return monoNs(); }

Status Daemon::loadInitialConfig() {
    config_path_ = args_.config_path;
    if (char* abs = realpath(config_path_.c_str(), nullptr)) {  // reloads must not depend on the cwd
        config_path_ = abs;
        free(abs);
    }
    if (fileExists(config_path_)) {
        ParseOutcome out = parseConfigFile(config_path_);
        if (!out.errors.empty() || !out.config) {
            printErrors(config_path_, out.errors);
            return invalid("config", config_path_ + " is invalid (" + std::to_string(out.errors.size()) + " errors)");
        }
        config_ = *out.config;
        config_from_file_ = true;
    } else if (args_.config_explicit) {
        return sysError("config", "cannot read " + config_path_);
    } else {
        RL_LOG_INFO("%s does not exist: using the built-in default configuration", config_path_.c_str());
        config_ = builtinDefaultConfig();
    }
    if (!args_.interfaces.empty()) config_.interfaces = args_.interfaces;
    if (args_.pin_path) config_.pin_path = *args_.pin_path;
    if (args_.socket_path) config_.control_socket = *args_.socket_path;
    if (auto s = guardLockout(config_, args_.force_lockout); !s) return s;
    LogLevel l;
    if (args_.log_level && parseLogLevel(*args_.log_level, &l)) setLogLevel(l);
    else if (parseLogLevel(config_.log_level, &l)) setLogLevel(l);
    return {};
}

// Rebuilds the previous rule image from the pinned maps, so that rule ids and
// generations stay stable across restarts.
void Daemon::recoverImage() {
    auto meta = maps_->readRuleMeta();
    if (!meta) return;
    RuleImage prev;
    prev.rules.resize(RL_MAX_RULES);
    prev.meta = *meta;
    for (uint32_t id = 0; id < RL_MAX_RULES; ++id) {
        if (prev.meta[id].name[0] == '\0') continue;
        std::string name(prev.meta[id].name, strnlen(prev.meta[id].name, RL_RULE_NAME_MAX));
        prev.ids[name] = id;
        if (auto r = maps_->readRule(id)) prev.rules[id] = *r;
    }
    if (prev.ids.empty()) return;
    image_ = std::move(prev);
    have_image_ = true;
    RL_LOG_INFO("recovered %zu rule ids from pinned %s", image_.ids.size(), RL_MAP_RULEMETA);
}

Config Daemon::merged() const {
    Config m = config_;
    std::vector<RuleConfig> rules;
    for (const auto& e : acl_) {
        RuleConfig r;
        r.name = e.name;
        r.sources.push_back(e.cidr);
        r.action = e.list == "allow" ? RL_ACT_ALLOW : RL_ACT_DENY;
        rules.push_back(r);
    }
    std::vector<RuleConfig> others;
    for (const auto& r : runtime_rules_) others.push_back(r);
    for (const auto& r : config_.rules)
        if (!deleted_rules_.count(r.name)) others.push_back(r);
    // An ACL entry takes precedence over an unnarrowed rule at exactly the same
    // prefix: that source is suspended from the rule while the entry exists
    // (the compiler rejects rules shadowed at a source). More specific
    // prefixes still win, as everywhere in the precedence order.
    for (auto& r : others) {
        if (acl_.empty() || r.proto || !r.ports.empty() || r.sources.empty()) {
            rules.push_back(r);
            continue;
        }
        RuleConfig kept = r;
        std::erase_if(kept.sources, [&](const Cidr& c) {
            return std::any_of(acl_.begin(), acl_.end(), [&](const AclEntry& e) { return e.cidr == c; });
        });
        if (!kept.sources.empty()) rules.push_back(kept);
    }
    m.rules = std::move(rules);
    return m;
}

// Compile and write as a diff: rules first (new rules exist before any prefix
// points at them), then the LPM tries, then removed rules, then rl_cfg.
Result<uint64_t> Daemon::apply(const Config& cfg) {
    auto img = compileRules(cfg, have_image_ ? &image_ : nullptr);
    if (!img) return img.error();
    RuleImage next = std::move(*img);
    next.rules.resize(RL_MAX_RULES);
    next.meta.resize(RL_MAX_RULES);

    std::vector<rl_rule> phase1 = next.rules;
    if (have_image_ && image_.rules.size() == RL_MAX_RULES) {
        for (uint32_t id = 0; id < RL_MAX_RULES; ++id) {
            bool removed = next.meta[id].name[0] == '\0' && image_.meta.size() == RL_MAX_RULES &&
                           image_.meta[id].name[0] != '\0';
            if (removed) phase1[id] = image_.rules[id];
        }
    }
    auto w1 = maps_->writeRules(phase1);
    if (!w1) return w1.error();
    // Rule-wide meters (ceiling, admission, unknown sources) are keyed by rule
    // id only: start them afresh when a rule is new, renamed or changes them.
    for (uint32_t id = 0; id < RL_MAX_RULES; ++id) {
        const rl_rule& n = next.rules[id];
        bool fresh = !have_image_ || image_.meta.size() != RL_MAX_RULES ||
                     image_.meta[id].generation != next.meta[id].generation ||
                     std::strncmp(image_.meta[id].name, next.meta[id].name, RL_RULE_NAME_MAX) != 0;
        bool changed = fresh || image_.rules.size() != RL_MAX_RULES ||
                       std::memcmp(&image_.rules[id].global, &n.global, sizeof(n.global)) != 0 ||
                       std::memcmp(&image_.rules[id].admit, &n.admit, sizeof(n.admit)) != 0 ||
                       std::memcmp(&image_.rules[id].unknown, &n.unknown, sizeof(n.unknown)) != 0;
        if (!changed) continue;
        if (auto s = maps_->resetRuleMeters(id); !s) return s.error();
    }
    auto wm = maps_->writeRuleMeta(next.meta);
    if (!wm) return wm.error();
    // LPM hint: old | new bits while the tries change, new bits once rl_cfg
    // (and its RL_CFG_F_HINT* flags) is the new one (abi.h "LPM hint")
    auto old_hint = maps_->readHint();
    if (!old_hint) return old_hint.error();
    for (size_t i = 0; i < old_hint->size(); i++) (*old_hint)[i] |= next.hint.words[i];
    if (auto s = maps_->writeHint(*old_hint); !s) return s.error();
    auto l4 = maps_->applyLpm4(next.lpm4);
    if (!l4) return l4.error();
    auto l6 = maps_->applyLpm6(next.lpm6);
    if (!l6) return l6.error();
    auto w2 = maps_->writeRules(next.rules);
    if (!w2) return w2.error();
    rl_config c = next.cfg;
    c.abi_version = RL_ABI_VERSION;
    // blocks left by rules that no longer block stay enforced until they end
    if (!(c.flags & RL_CFG_F_BLOCKS)) {
        auto b4 = maps_->countBlock4();
        auto b6 = maps_->countBlock6();
        if (!b4 || !b6 || *b4 || *b6) c.flags |= RL_CFG_F_BLOCKS;
    }
    c.generation = generation_ + 1;
    if (auto s = maps_->writeConfig(c); !s) return s.error();
    if (auto s = maps_->writeHint(next.hint.words); !s) return s.error();
    generation_ = c.generation;
    image_ = std::move(next);
    have_image_ = true;
    RL_LOG_INFO("applied generation %lu: %zu rules written, lpm4 +%zu ~%zu -%zu, lpm6 +%zu ~%zu -%zu",
                static_cast<unsigned long>(generation_), *w1 + *w2, l4->added, l4->updated, l4->removed, l6->added,
                l6->updated, l6->removed);
    return generation_;
}

Status Daemon::guardLockout(Config& cfg, bool force) {
    std::vector<Cidr> added, unprotected;
    auto s = protectManagement(cfg, detectSshClients(), force, &added, &unprotected);
    for (const auto& c : added) RL_LOG_INFO("management: SSH client %s is never limited (protect_ssh)", formatIp(c.addr).c_str());
    for (const auto& c : s ? unprotected : std::vector<Cidr>{})
        RL_LOG_WARN("management: SSH client %s is NOT protected (protect_ssh: false, forced)", formatIp(c.addr).c_str());
    return s;
}

Result<uint64_t> Daemon::reload(const std::string& path, std::vector<ConfigError>* errors, bool force) {
    ParseOutcome out;
    if (fileExists(path)) {
        out = parseConfigFile(path);
    } else if (path == kDefaultConfigPath && !config_from_file_) {
        out.config = builtinDefaultConfig();
    } else {
        errors->push_back(ConfigError{0, 0, "cannot read " + path + ": " + strerror(errno)});
        ++reloads_failed_;
        return invalid("reload", "cannot read " + path);
    }
    if (!out.errors.empty() || !out.config) {
        *errors = out.errors;
        ++reloads_failed_;
        last_reload_error_ = out.errors.empty() ? "invalid" : out.errors.front().message;
        for (const auto& e : out.errors)
            RL_LOG_ERROR("reload rejected: %s:%d:%d: %s", path.c_str(), e.line, e.column, e.message.c_str());
        return invalid("reload", path + ": " + std::to_string(out.errors.size()) + " errors; nothing applied");
    }
    Config next = *out.config;
    if (!args_.interfaces.empty()) next.interfaces = args_.interfaces;
    if (auto s = guardLockout(next, force); !s) {
        errors->push_back(ConfigError{0, 0, s.error().message()});
        ++reloads_failed_;
        last_reload_error_ = s.error().message();
        RL_LOG_ERROR("reload rejected: %s", s.error().message().c_str());
        return s.error();
    }
    // Load-time settings: applied at the next restart only.
    if (next.pin_path != config_.pin_path || next.control_socket != config_.control_socket)
        RL_LOG_WARN("reload: pin_path and control.socket changes take effect at the next restart");
    if (next.state_entries_v4 != config_.state_entries_v4 || next.state_entries_v6 != config_.state_entries_v6 ||
        next.block_entries != config_.block_entries)
        RL_LOG_WARN("reload: tracking capacities are fixed while the maps exist; a restart with --force-reset "
                    "applies them (and drops key state)");
    next.pin_path = config_.pin_path;
    next.control_socket = config_.control_socket;
    next.state_entries_v4 = config_.state_entries_v4;
    next.state_entries_v6 = config_.state_entries_v6;
    next.block_entries = config_.block_entries;

    Config saved = config_;
    auto saved_rt = runtime_rules_;
    auto saved_del = deleted_rules_;
    auto saved_acl = acl_;
    config_ = next;
    runtime_rules_.clear();  // runtime changes live until the next reload
    deleted_rules_.clear();
    acl_.clear();
    auto g = apply(merged());
    if (!g) {
        config_ = saved;
        runtime_rules_ = saved_rt;
        deleted_rules_ = saved_del;
        acl_ = saved_acl;
        ++reloads_failed_;
        last_reload_error_ = g.error().message();
        errors->push_back(ConfigError{0, 0, g.error().message()});
        RL_LOG_ERROR("reload rejected: %s", g.error().message().c_str());
        return g.error();
    }
    config_path_ = path;
    config_from_file_ = fileExists(path);
    ++reloads_ok_;
    LogLevel l;
    if (!args_.log_level && parseLogLevel(config_.log_level, &l)) setLogLevel(l);
    if (auto s = attachConfigured(); !s) RL_LOG_WARN("reload: %s", s.error().message().c_str());
    // A reload never detaches: enforcement on an interface ends only by `detach`.
    for (const auto& a : loader_->attachments()) {
        bool listed = std::any_of(config_.interfaces.begin(), config_.interfaces.end(),
                                  [&](const InterfaceConfig& ic) { return ic.name == a.name; });
        if (a.attached && !listed)
            RL_LOG_WARN("%s is no longer in the configuration but stays attached; `ratelimitctl detach %s` to stop",
                        a.name.c_str(), a.name.c_str());
    }
    RL_LOG_INFO("reloaded %s: generation %lu", path.c_str(), static_cast<unsigned long>(*g));
    return g;
}

// Attaches to every configured interface that does not run this program yet.
Status Daemon::attachConfigured() {
    Status first;
    for (const auto& ic : config_.interfaces) {
        bool done = false;
        for (const auto& a : loader_->attachments())
            if (a.name == ic.name && a.attached) done = true;
        if (done) continue;
        auto r = loader_->attach(ic.name, ic.mode);
        if (!r) {
            RL_LOG_ERROR("attach %s: %s", ic.name.c_str(), r.error().message().c_str());
            if (first) first = r.error();
        }
    }
    if (auto s = loader_->pinProgram(); !s) RL_LOG_WARN("%s", s.error().message().c_str());
    return first;
}

gid_t Daemon::controlGid() const {
    if (config_.control_group.empty()) return static_cast<gid_t>(-1);
    struct group* g = getgrnam(config_.control_group.c_str());
    if (!g) {
        RL_LOG_WARN("control group '%s' does not exist; only root may change things",
                    config_.control_group.c_str());
        return static_cast<gid_t>(-1);
    }
    return g->gr_gid;
}

bool Daemon::peerMayChange(const Peer& p) const {
    if (p.uid == 0) return true;
    gid_t g = controlGid();
    if (g == static_cast<gid_t>(-1)) return false;
    if (p.gid == g) return true;
    for (gid_t x : p.groups)
        if (x == g) return true;
    return false;
}

std::string Daemon::ruleName(uint32_t id) const {
    if (id == RL_RULE_NONE) return "none";
    if (have_image_ && id < image_.meta.size() && image_.meta[id].name[0])
        return std::string(image_.meta[id].name, strnlen(image_.meta[id].name, RL_RULE_NAME_MAX));
    return "rule" + std::to_string(id);
}

Status Daemon::setup() {
    start_ns_ = nowNs();
    if (auto s = loadInitialConfig(); !s) return s;
    // before touching pins or attachments: one daemon per socket
    if (auto s = ControlServer::ensureNotServed(config_.control_socket); !s) return s;

    LoaderOptions lo;
    lo.pin_path = config_.pin_path;
    lo.state_entries_v4 = config_.state_entries_v4;
    lo.state_entries_v6 = config_.state_entries_v6;
    lo.block_entries = config_.block_entries;
    lo.force_reset = args_.force_reset;
    auto l = Loader::load(lo);
    if (!l) return l.error();
    loader_ = std::move(*l);
    maps_ = std::make_unique<Maps>(loader_->maps());
    if (loader_->reusedState()) {
        if (auto c = maps_->readConfig()) generation_ = c->generation;
        recoverImage();
    }
    auto g = apply(merged());
    if (!g) return Error{g.error().err, "apply configuration", g.error().message()};

    if (config_.interfaces.empty())
        RL_LOG_WARN("no interfaces configured: nothing is enforced until `attach`");
    if (auto s = attachConfigured(); !s) return s;

    auto srv = ControlServer::listen(config_.control_socket, args_.socket_mode, controlGid(), this);
    if (!srv) return srv.error();
    server_ = std::move(*srv);
    auto ev = EventReader::open(loader_->maps().events, [this](const rl_event& e) { onEvent(e); });
    if (!ev) return ev.error();
    events_ = std::move(*ev);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal(SIGPIPE, SIG_IGN);
    // after sigprocmask: the server threads inherit the blocked signal set
    if (!config_.metrics_listen.empty()) {
        Collector::Options mo;
        mo.maps = maps_.get();
        mo.state = metrics_state_;
        auto m = MetricsServer::start(config_.metrics_listen, std::make_shared<Collector>(std::move(mo)));
        if (m) {
            metrics_ = std::move(*m);
            RL_LOG_INFO("metrics: http://%s/metrics (port %u)", config_.metrics_listen.c_str(), metrics_->port());
        } else {  // enforcement must not depend on a free port; Prometheus sees the target down
            RL_LOG_ERROR("metrics disabled: %s", m.error().message().c_str());
        }
    }
    sigfd_.reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!sigfd_.valid()) return sysError("signalfd");
    timerfd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timerfd_.valid()) return sysError("timerfd_create");
    itimerspec its{};
    its.it_interval.tv_nsec = kTickNs;
    its.it_value.tv_nsec = kTickNs;
    if (timerfd_settime(timerfd_.get(), 0, &its, nullptr) != 0) return sysError("timerfd_settime");
    epfd_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epfd_.valid()) return sysError("epoll_create1");
    auto add = [&](int fd, uint64_t tag) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u64 = tag;
        return epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &e);
    };
    if (add(sigfd_.get(), kTagSignal) || add(timerfd_.get(), kTagTimer) || add(server_->epollFd(), kTagServer) ||
        add(events_->epollFd(), kTagEvents))
        return sysError("epoll_ctl");

    if (sd_watchdog_enabled(0, &watchdog_usec_) > 0) {
        next_watchdog_ns_ = nowNs();
        RL_LOG_INFO("systemd watchdog every %lu ms", static_cast<unsigned long>(watchdog_usec_ / 2000));
    } else {
        watchdog_usec_ = 0;
    }
    snapshotTalkers();
    auto kf = KnownFilter::open(loader_->maps());
    if (!kf) return kf.error();
    known_ = std::move(*kf);
    return {};
}

// Builds rl_known from the state tables (the fast path does not use it until
// then), then rebuilds it when evicted keys' bits pile up (KnownFilter::maintain).
void Daemon::maintainKnownFilter(std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    bool failing = false;
    KnownSnapshot snap;
    while (!stop.stop_requested()) {
        auto t0 = KnownFilter::Clock::now();
        bool was_built = known_->built();
        auto r = known_->maintain(t0);
        if (!r) {
            if (!failing) RL_LOG_WARN("known-key filter: %s", r.error().message().c_str());
            failing = true;
        } else if (*r) {
            failing = false;
            snap.builds++;
            snap.keys = known_->lastBuild().keys;
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(KnownFilter::Clock::now() - t0).count();
            const auto& b = known_->lastBuild();
            RL_LOG_INFO("known-key filter %s from %llu keys: %.1f%% of its bits set, in %lld ms",
                        was_built ? "rebuilt" : "built", static_cast<unsigned long long>(b.keys), 100.0 * b.fill,
                        static_cast<long long>(ms));
        }
        snap.built = known_->built();
        snap.fill = known_->fill();
        metrics_state_->publishKnown(snap);
        std::unique_lock lk(m);
        cv.wait_for(lk, stop, std::chrono::seconds(1), [] { return false; });
    }
}

void Daemon::notifyStatus() {
    size_t attached = 0;
    std::vector<AttachmentInfo> published;  // for the metrics collector: made + configured
    for (const auto& a : loader_->attachments()) {
        attached += a.attached;
        published.push_back({a.name, a.mode.empty() ? xdpModeName(a.requested) : a.mode, loader_->progId()});
    }
    for (const auto& ic : config_.interfaces)
        if (std::none_of(published.begin(), published.end(), [&](const auto& p) { return p.interface == ic.name; }))
            published.push_back({ic.name, xdpModeName(ic.mode), loader_->progId()});
    metrics_state_->publish(std::move(published), reloads_ok_, reloads_failed_);
    std::string s = "STATUS=generation " + std::to_string(generation_) + ", " + std::to_string(attached) +
                    " interface(s) attached, " + std::to_string(reloads_failed_) + " failed reload(s)";
    sd_notify(0, s.c_str());
}

int Daemon::run() {
    if (auto s = setup(); !s) {
        RL_LOG_ERROR("%s", s.error().message().c_str());
        sd_notifyf(0, "STATUS=failed: %s", s.error().message().c_str());
        return 1;
    }
    // Start-up needed more (CAP_PERFMON to load, CAP_SYS_ADMIN to mount bpffs,
    // CAP_CHOWN for the socket group); from here on map updates and XDP
    // attach/detach are all that is left: CAP_BPF + CAP_NET_ADMIN.
    if (auto s = dropCapabilitiesExcept({CAP_BPF, CAP_NET_ADMIN}); !s)
        RL_LOG_WARN("could not drop capabilities: %s", s.error().message().c_str());
    RL_LOG_INFO("capabilities from now on: %s", capabilityNames("CapEff").c_str());
    // capabilities are per thread: started after the drop, it never had more
    known_thread_ = std::jthread([this](std::stop_token st) { maintainKnownFilter(st); });
    sd_notify(0, "READY=1");
    notifyStatus();
    RL_LOG_INFO("ready: generation %lu, control socket %s", static_cast<unsigned long>(generation_),
                config_.control_socket.c_str());
    loop();
    shutdown();
    return 0;
}

void Daemon::loop() {
    while (!stop_) {
        epoll_event evs[16];
        int n = epoll_wait(epfd_.get(), evs, 16, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            RL_LOG_ERROR("epoll_wait: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n && !stop_; ++i) {
            switch (evs[i].data.u64) {
            case kTagSignal: onSignal(); break;
            case kTagTimer: onTimer(); break;
            case kTagServer: server_->dispatch(); break;
            case kTagEvents: events_->consume(); break;
            }
        }
    }
}

void Daemon::onSignal() {
    signalfd_siginfo si;
    while (read(sigfd_.get(), &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            RL_LOG_INFO("SIGHUP: reloading %s", config_path_.c_str());
            sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lu", static_cast<unsigned long>(nowNs() / 1000));
            std::vector<ConfigError> errors;
            (void)reload(config_path_, &errors);
            sd_notify(0, "READY=1");
            notifyStatus();
        } else {
            RL_LOG_INFO("%s: shutting down", strsignal(static_cast<int>(si.ssi_signo)));
            stop_ = true;
        }
    }
}

void Daemon::onTimer() {
    uint64_t expirations;
    while (read(timerfd_.get(), &expirations, sizeof(expirations)) == sizeof(expirations)) {
    }
    uint64_t now = nowNs();
    if (watchdog_usec_ && now >= next_watchdog_ns_) {
        sd_notify(0, "WATCHDOG=1");
        next_watchdog_ns_ = now + watchdog_usec_ * 1000 / 2;
    }
    expireAcl();
    if (now >= next_attach_check_ns_) {
        next_attach_check_ns_ = now + kAttachCheckNs;
        checkAttachments();
    }
    if (now >= next_talker_ns_) snapshotTalkers();
    pushStreams(now);
    server_->tick();
}

// An interface that vanished and came back under its name (veth re-created,
// driver reloaded) lost its XDP program with it: attach again. An interface
// detached on purpose (`detach`) is no longer in the loader's list and stays
// detached; one that now runs somebody else's program is left alone.
void Daemon::checkAttachments() {
    bool changed = false;
    for (const auto& a : loader_->attachments()) {
        if (a.attached) continue;
        if (a.ifindex == 0) {
            if (if_gone_.insert(a.name).second) {
                RL_LOG_WARN("%s: interface gone; re-attaching when it returns", a.name.c_str());
                changed = true;
            }
            continue;
        }
        if (a.prog_id != 0) {
            if (if_gone_.insert(a.name).second)
                RL_LOG_WARN("%s: runs another XDP program (id %u); not re-attaching", a.name.c_str(), a.prog_id);
            continue;
        }
        auto r = loader_->attach(a.name, a.requested);
        if (!r) {
            if (if_gone_.insert(a.name).second)
                RL_LOG_WARN("%s: re-attach failed: %s", a.name.c_str(), r.error().message().c_str());
            continue;
        }
        if_gone_.erase(a.name);
        RL_LOG_INFO("%s: re-attached %s (prog id %u, ifindex %d, %s mode) after the interface came back",
                    a.name.c_str(), "rl_xdp", r->prog_id, r->ifindex, r->mode.c_str());
        changed = true;
    }
    if (changed) notifyStatus();
}

void Daemon::expireAcl() {
    uint64_t now = nowNs();
    size_t before = acl_.size();
    std::vector<AclEntry> kept;
    for (auto& e : acl_) {
        if (e.expires_ns && e.expires_ns <= now) {
            RL_LOG_INFO("acl: %s %s expired", e.list.c_str(), formatCidr(e.cidr).c_str());
            continue;
        }
        kept.push_back(e);
    }
    if (kept.size() == before) return;
    auto saved = acl_;
    acl_ = std::move(kept);
    if (auto g = apply(merged()); !g) {
        RL_LOG_ERROR("acl expiry: %s", g.error().message().c_str());
        acl_ = saved;
    }
}

void Daemon::snapshotTalkers() {
    auto t = maps_->readTalkers();
    uint64_t now = nowNs();
    next_talker_ns_ = now + kTalkerSnapshotNs;
    if (!t) return;
    talk_prev_ = std::move(talk_cur_);
    talk_prev_ns_ = talk_cur_ns_;
    talk_cur_.clear();
    std::map<std::string, uint64_t> changed;
    for (auto& s : *t) {
        std::string k = views::keyOf(s.key);
        auto prev = talk_prev_.find(k);
        auto since = talk_changed_ns_.find(k);
        bool moved = prev == talk_prev_.end() || prev->second.packets != s.packets;
        uint64_t last = moved || since == talk_changed_ns_.end() ? now : since->second;
        // Age out sources silent for kTalkerIdleNs so the sampled table keeps
        // room for current talkers (LRU eviction alone favours busy CPUs).
        if (now - last > kTalkerIdleNs) {
            (void)maps_->deleteTalker(s.key);
            continue;
        }
        changed[k] = last;
        talk_cur_[k] = s;
    }
    talk_changed_ns_ = std::move(changed);
    talk_cur_ns_ = now;
}

void Daemon::shutdown() {
    sd_notify(0, "STOPPING=1");
    if (known_thread_.joinable()) {
        known_thread_.request_stop();
        known_thread_.join();
    }
    subs_.clear();
    server_.reset();
    events_.reset();
    if (args_.detach_on_exit) {
        for (const auto& a : loader_->attachments())
            if (a.attached)
                if (auto s = loader_->detach(a.name); !s) RL_LOG_WARN("%s", s.error().message().c_str());
    } else {
        size_t n = 0;
        for (const auto& a : loader_->attachments()) n += a.attached;
        if (n) RL_LOG_INFO("leaving %zu interface(s) attached; state stays pinned under %s", n, config_.pin_path.c_str());
    }
    RL_LOG_INFO("stopped");
}

}  // namespace ratelimit
