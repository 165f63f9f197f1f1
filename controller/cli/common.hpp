// Shared plumbing of ratelimitctl's commands: global options, connecting to
// the daemon with operator-friendly errors, local validation of arguments,
// and the signal/terminal handling of streaming commands.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "control/client.hpp"

namespace ratelimit::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;   // the daemon refused, or is unreachable
inline constexpr int kExitUsage = 2;   // bad flag or value (CLI11 or local validation)

struct Globals {
    std::string socket;                // --socket, $RATELIMIT_SOCKET, or the default
    bool json = false;                 // --json: raw result objects (JSON lines for streams)
    std::string timeout = "5s";        // --timeout for each request/response
};

// What the parsed command does; set by the subcommand's callback.
using Action = std::function<int()>;

// Registration, one per cli/*.cpp file.
void addStatusCommand(CLI::App& app, const Globals& g, Action& action);
void addRulesCommands(CLI::App& app, const Globals& g, Action& action);
void addAclCommands(CLI::App& app, const Globals& g, Action& action);
void addKeysCommands(CLI::App& app, const Globals& g, Action& action);
void addTopCommand(CLI::App& app, const Globals& g, Action& action);
void addStatsCommand(CLI::App& app, const Globals& g, Action& action);
void addEventsCommand(CLI::App& app, const Globals& g, Action& action);
void addConfigCommands(CLI::App& app, const Globals& g, Action& action);
void addInterfaceCommands(CLI::App& app, const Globals& g, Action& action);

// Prints "ratelimitctl: <message>" to stderr and returns kExitError.
int fail(const std::string& message);

// Connects, printing the "not running" hint on ENOENT/ECONNREFUSED.
std::optional<control::Client> connectOrReport(const Globals& g);

// One request: on success prints the result (raw JSON with --json, else via
// `text`), on a daemon error prints "ratelimitctl: <message>". Returns the exit code.
int request(const Globals& g, const std::string& cmd, const nlohmann::json& args,
            const std::function<void(const nlohmann::json&)>& text);

// Streams `cmd`: calls `onData` for every data object until Ctrl-C/SIGTERM
// (exit 0) or the daemon closes the stream (exit 1). With --json each object
// is printed as one line instead.
int stream(const Globals& g, const std::string& cmd, const nlohmann::json& args,
           const std::function<void(const nlohmann::json&)>& onData);

// Validators for CLI11 options: parse with the project's parsers, so bad
// input is rejected (exit 2, naming the option) before anything is sent.
CLI::Validator cidrValidator();
CLI::Validator ipValidator();
CLI::Validator packetRateValidator();
CLI::Validator byteRateValidator();
CLI::Validator durationValidator();
CLI::Validator portRangeValidator();

// Parsed values of validated options (precondition: the validator passed).
uint64_t durationMs(const std::string& text);
uint64_t durationSeconds(const std::string& text);  // rounded up

// Alternate screen + hidden cursor while a live view runs, restored on
// destruction (also when Ctrl-C ends the view). No-op unless stdout is a tty.
class LiveScreen {
public:
    LiveScreen();
    ~LiveScreen();
    LiveScreen(const LiveScreen&) = delete;
    LiveScreen& operator=(const LiveScreen&) = delete;
    bool active() const { return active_; }
    void beginFrame();  // cursor home + clear
private:
    bool active_ = false;
};

}  // namespace ratelimit::cli
