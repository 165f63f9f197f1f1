// ratelimitctl allow add|remove CIDR, deny add|remove CIDR, acl list
#include <iostream>

#include "cli/common.hpp"
#include "cli/format.hpp"

namespace ratelimit::cli {

using nlohmann::json;

namespace {

struct AclArgs {
    std::string cidr;
    std::string ttl;   // empty: forever
};

void printAcl(const json& r) {
    const json entries = r.value("entries", json::array());
    if (entries.empty()) {
        std::cout << "no allow/deny entries\n";
        return;
    }
    Table t({"LIST", "CIDR", "EXPIRES IN>"});
    for (const auto& e : entries) {
        double left = num(e, "expires_in_s", 0);
        t.add({str(e, "list"), str(e, "cidr"), left > 0 ? fmtDuration(left) : "never"});
    }
    t.print(std::cout);
}

void addListVerb(CLI::App& app, const std::string& list, const Globals& g, Action& action) {
    auto* top = app.add_subcommand(
        list, list == "allow" ? "sources that are never limited (runtime allow list)"
                              : "sources that are always dropped (runtime deny list)");
    top->require_subcommand(1);

    auto addArgs = std::make_shared<AclArgs>();
    auto* add = top->add_subcommand("add", "add CIDR to the " + list + " list");
    add->add_option("cidr", addArgs->cidr, "address or CIDR, e.g. 198.18.0.7 or 198.18.0.0/24")
        ->required()
        ->check(cidrValidator());
    add->add_option("--ttl", addArgs->ttl, "remove the entry after this long, e.g. 10m (default: never)")
        ->check(durationValidator());
    add->callback([&g, &action, addArgs, list] {
        if (!addArgs->ttl.empty() && durationSeconds(addArgs->ttl) == 0)
            throw CLI::ValidationError("--ttl", "'" + addArgs->ttl + "' must be at least 1s");
        action = [&g, addArgs, list] {
            json args = {{"list", list}, {"cidr", addArgs->cidr}};
            if (!addArgs->ttl.empty()) args["ttl_s"] = durationSeconds(addArgs->ttl);
            return request(g, "acl.add", args, [&](const json&) {
                std::cout << list << " " << addArgs->cidr << " added"
                          << (addArgs->ttl.empty() ? "" : " for " + addArgs->ttl) << '\n';
            });
        };
    });

    auto rmArgs = std::make_shared<AclArgs>();
    auto* rm = top->add_subcommand("remove", "remove CIDR from the " + list + " list");
    rm->add_option("cidr", rmArgs->cidr, "the CIDR as it was added")->required()->check(cidrValidator());
    rm->callback([&g, &action, rmArgs, list] {
        action = [&g, rmArgs, list] {
            return request(g, "acl.remove", {{"list", list}, {"cidr", rmArgs->cidr}},
                           [&](const json&) {
                               std::cout << list << " " << rmArgs->cidr << " removed\n";
                           });
        };
    });
}

}  // namespace

void addAclCommands(CLI::App& app, const Globals& g, Action& action) {
    addListVerb(app, "allow", g, action);
    addListVerb(app, "deny", g, action);
    auto* acl = app.add_subcommand("acl", "runtime allow/deny lists");
    acl->require_subcommand(1);
    auto* list = acl->add_subcommand("list", "allow and deny entries with their expiry");
    list->callback([&g, &action] {
        action = [&g] { return request(g, "acl.list", json::object(), printAcl); };
    });
}

}  // namespace ratelimit::cli
