#include "cli/main.hpp"

#include <cstdlib>
#include <iostream>

#include "cli/common.hpp"

namespace ratelimit::cli {

int run(int argc, char** argv) {
    CLI::App app{"Operate ratelimitd, the per-source-IP XDP rate limiter.", "ratelimitctl"};
    app.fallthrough();            // global options are accepted after the verb too
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("ratelimitctl ") + RL_VERSION);

    Globals g;
    const char* env = std::getenv("RATELIMIT_SOCKET");
    g.socket = env != nullptr && *env != '\0' ? env : control::kDefaultSocket;
    app.add_option("--socket", g.socket, "control socket of ratelimitd ($RATELIMIT_SOCKET)")
        ->capture_default_str();
    app.add_flag("--json", g.json, "print raw JSON results (JSON lines for streams)");
    app.add_option("--timeout", g.timeout, "how long to wait for the daemon, e.g. 5s, 500ms")
        ->check(durationValidator())
        ->capture_default_str();

    Action action;
    addStatusCommand(app, g, action);
    addRulesCommands(app, g, action);
    addAclCommands(app, g, action);
    addKeysCommands(app, g, action);
    addTopCommand(app, g, action);
    addStatsCommand(app, g, action);
    addEventsCommand(app, g, action);
    addConfigCommands(app, g, action);
    addInterfaceCommands(app, g, action);
    // After the subcommands: CLI11 copies a parent's footer into subcommands created later.
    app.footer(
        "Global options may also follow the command (ratelimitctl rules list --json).\n"
        "Exit status: 0 ok, 1 the daemon refused or is not running, 2 usage error.\n"
        "Examples:\n"
        "  ratelimitctl status\n"
        "  ratelimitctl top                      # live, Ctrl-C quits\n"
        "  ratelimitctl keys show 198.18.0.7\n"
        "  ratelimitctl deny add 198.19.66.0/24 --ttl 10m\n"
        "  ratelimitctl config check /etc/ratelimit/ratelimit.yaml && ratelimitctl reload");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);  // prints help/version (rc 0) or the error naming the flag
        return rc == 0 ? kExitOk : kExitUsage;
    }
    if (!action) {
        std::cerr << app.help();
        return kExitUsage;
    }
    try {
        return action();
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}

}  // namespace ratelimit::cli
