// ratelimitctl reload [--config FILE], config check FILE
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/common.hpp"
#include "cli/format.hpp"
#include "config/config.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

std::optional<std::string> readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The daemon resolves relative paths against its own working directory.
std::string absolutePath(const std::string& path) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(path, ec);
    return ec ? path : abs.lexically_normal().string();
}

std::vector<ConfigError> errorsFromJson(const json& list) {
    std::vector<ConfigError> out;
    if (!list.is_array()) return out;
    for (const auto& e : list)
        out.push_back({static_cast<int>(num(e, "line")), static_cast<int>(num(e, "column")),
                       str(e, "message", "")});
    return out;
}

json errorsToJson(const std::vector<ConfigError>& errors) {
    json list = json::array();
    for (const auto& e : errors)
        list.push_back({{"line", e.line}, {"column", e.column}, {"message", e.message}});
    return list;
}

// file:line:col: message, the source line and a caret (config/ formats it).
void printConfigErrors(const std::string& path, const std::vector<ConfigError>& errors) {
    auto source = readFile(path);
    std::cerr << formatErrors(source.value_or(""), errors, path);
}

int checkLocally(const Globals& g, const std::string& path) {
    if (!std::filesystem::exists(path)) return fail("config check: " + path + ": no such file");
    ParseOutcome out = parseConfigFile(path);
    if (g.json) {
        std::cout << json{{"valid", out.errors.empty()}, {"errors", errorsToJson(out.errors)}}.dump(2)
                  << '\n';
        return out.errors.empty() ? kExitOk : kExitError;
    }
    if (!out.errors.empty()) {
        printConfigErrors(path, out.errors);
        std::cerr << path << ": " << out.errors.size()
                  << (out.errors.size() == 1 ? " error" : " errors") << '\n';
        return kExitError;
    }
    const Config& c = *out.config;
    std::cout << path << ": valid (" << c.rules.size() << (c.rules.size() == 1 ? " rule" : " rules")
              << ", " << c.interfaces.size()
              << (c.interfaces.size() == 1 ? " interface" : " interfaces") << ")\n";
    return kExitOk;
}

int checkOnDaemon(const Globals& g, const std::string& path) {
    auto client = connectOrReport(g);
    if (!client) return kExitError;
    auto reply = client->call("config.check", {{"path", absolutePath(path)}});
    if (!reply) return fail(reply.error().message());
    if (!reply->ok) return fail(reply->message);
    const json& r = reply->result;
    bool valid = r.value("valid", false);
    if (g.json) {
        std::cout << r.dump(2) << '\n';
    } else if (valid) {
        std::cout << path << ": valid (checked by ratelimitd)\n";
    } else {
        printConfigErrors(path, errorsFromJson(r.value("errors", json::array())));
    }
    return valid ? kExitOk : kExitError;
}

int reload(const Globals& g, const std::string& path, bool force) {
    auto client = connectOrReport(g);
    if (!client) return kExitError;
    json args = json::object();
    if (!path.empty()) args["path"] = absolutePath(path);
    if (force) args["force"] = true;
    auto reply = client->call("reload", args);
    if (!reply) return fail(reply.error().message());
    if (!reply->ok) {
        // The daemon lists every error as file:line:col; with the file at hand
        // show them with the source line and a caret instead.
        std::string file = path;
        if (file.empty() && reply->code == "EINVAL") {
            // Reloading the configured file: ask the daemon which one it is.
            if (auto st = client->call("status"); st && st->ok)
                file = str(st->result, "config_path", "");
        }
        std::vector<ConfigError> local;
        if (!file.empty() && reply->code == "EINVAL" && ::access(file.c_str(), R_OK) == 0)
            local = parseConfigFile(file).errors;
        const std::string& msg = reply->message;
        if (!local.empty()) {
            fail(msg.substr(0, msg.find('\n')));
            printConfigErrors(file, local);
        } else {
            fail(msg);
        }
        if (reply->code == "EINVAL")
            std::cerr << "ratelimitctl: nothing was applied; the running configuration is unchanged\n";
        return kExitError;
    }
    if (g.json)
        std::cout << reply->result.dump(2) << '\n';
    else
        std::cout << "reloaded" << (path.empty() ? "" : " " + absolutePath(path)) << " (generation "
                  << str(reply->result, "generation") << ")\n";
    return kExitOk;
}

}  // namespace

void addConfigCommands(CLI::App& app, const Globals& g, Action& action) {
    auto reloadPath = std::make_shared<std::string>();
    auto* rl = app.add_subcommand("reload", "re-read the configuration; on any error nothing changes");
    rl->add_option("--config", *reloadPath, "load this file instead of the configured one")
        ->check(CLI::ExistingFile);
    auto reloadForce = std::make_shared<bool>(false);
    rl->add_flag("--force", *reloadForce,
                 "apply even if it leaves a detected SSH client unprotected (management.protect_ssh: false)");
    rl->callback([&g, &action, reloadPath, reloadForce] {
        action = [&g, reloadPath, reloadForce] { return reload(g, *reloadPath, *reloadForce); };
    });

    auto* config = app.add_subcommand("config", "configuration files");
    config->require_subcommand(1);
    struct CheckOptions {
        std::string path;
        bool daemon = false;
    };
    auto o = std::make_shared<CheckOptions>();
    auto* check = config->add_subcommand(
        "check", "validate a config file (locally; no daemon needed); exit 1 on errors");
    check->add_option("file", o->path, "YAML configuration file")->required();
    check->add_flag("--daemon", o->daemon, "let the running ratelimitd check it instead");
    check->callback([&g, &action, o] {
        action = [&g, o] { return o->daemon ? checkOnDaemon(g, o->path) : checkLocally(g, o->path); };
    });
}

}  // namespace ratelimit::cli
