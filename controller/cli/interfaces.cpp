// ratelimitctl attach IFACE [--mode], detach IFACE | --all
#include <iostream>

#include "cli/common.hpp"
#include "cli/format.hpp"

namespace ratelimit::cli {

using nlohmann::json;

void addInterfaceCommands(CLI::App& app, const Globals& g, Action& action) {
    struct AttachOptions {
        std::string iface;
        std::string mode = "auto";
    };
    auto a = std::make_shared<AttachOptions>();
    auto* attach = app.add_subcommand("attach", "attach the XDP program to an interface");
    attach->add_option("interface", a->iface, "interface name")->required();
    attach->add_option("--mode", a->mode, "auto (native, else generic), native or generic")
        ->check(CLI::IsMember({"auto", "native", "generic"}))
        ->capture_default_str();
    attach->callback([&g, &action, a] {
        action = [&g, a] {
            return request(g, "attach", {{"interface", a->iface}, {"mode", a->mode}},
                           [&](const json& r) {
                               std::cout << "attached to " << a->iface << " (ifindex "
                                         << str(r, "ifindex") << ", " << str(r, "mode")
                                         << " mode, prog " << str(r, "prog_id") << ")\n";
                           });
        };
    });

    struct DetachOptions {
        std::string iface;
        bool all = false;
    };
    auto d = std::make_shared<DetachOptions>();
    auto* detach = app.add_subcommand("detach", "detach from an interface, or --all for a full clean-up");
    auto* ifOpt = detach->add_option("interface", d->iface, "interface name");
    auto* allOpt = detach->add_flag("--all", d->all,
                                    "detach everywhere and unpin all state (full clean-up)");
    ifOpt->excludes(allOpt);
    detach->callback([&g, &action, d] {
        if (d->iface.empty() && !d->all)
            throw CLI::ValidationError("detach", "give an INTERFACE or --all");
        action = [&g, d] {
            json args = d->all ? json{{"all", true}} : json{{"interface", d->iface}};
            return request(g, "detach", args, [&](const json&) {
                if (d->all)
                    std::cout << "detached from every interface and unpinned all state\n";
                else
                    std::cout << "detached from " << d->iface << '\n';
            });
        };
    });
}

}  // namespace ratelimit::cli
