// berth token create|ls|revoke, berth audit ls.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/cli.h"

namespace berth::cli {

void AddSecurityCommands(CLI::App& app, Context& ctx) {
  auto* token = app.add_subcommand("token", "API tokens (admin)");
  token->require_subcommand(1);
  {
    auto* cmd = token->add_subcommand("create", "Create a token; prints it once");
    auto role = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    auto node = std::make_shared<std::string>();
    cmd->add_option("--role", *role, "admin, operator or viewer (a node token: operator)");
    cmd->add_option("--name", *name, "A name for people to recognise it by");
    cmd->add_option("--node", *node,
                    "Bind the token to a node: the credential of that node's agent, which may "
                    "then act only as that node");
    cmd->callback([&ctx, role, name, node] {
      ctx.run = [&ctx, role, name, node] {
        if (role->empty() && node->empty()) {
          std::cerr << "error: --role is required (or --node for a node token)\n";
          return 2;
        }
        Json body = Json::object();
        if (!role->empty()) body["role"] = *role;
        if (!node->empty()) body["node"] = *node;
        if (!name->empty()) body["name"] = *name;
        auto r = ctx.Call("POST", "/v1/tokens", &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << (*r)["token"].get<std::string>() << "\n";
        return 0;
      };
    });
  }
  {
    auto* cmd = token->add_subcommand("ls", "List tokens (never their secrets)");
    cmd->callback([&ctx] {
      ctx.run = [&ctx] {
        auto r = ctx.Call("GET", "/v1/tokens");
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& t : (*r)["tokens"]) {
          std::string node = t.value("node", "");
          rows.push_back({t.value("id", ""), t.value("name", ""), t.value("role", ""),
                          node.empty() ? "-" : node, FormatTime(t.value("created_ms", int64_t{0})),
                          t.value("created_by", "")});
        }
        PrintTable({"ID", "NAME", "ROLE", "NODE", "CREATED", "CREATED_BY"}, rows);
        return 0;
      };
    });
  }
  {
    auto* cmd = token->add_subcommand("revoke", "Revoke a token by id");
    auto id = std::make_shared<std::string>();
    cmd->add_option("id", *id, "Token id (from token ls)")->required();
    cmd->callback([&ctx, id] {
      ctx.run = [&ctx, id] {
        auto r = ctx.Call("DELETE", "/v1/tokens/" + PathEscape(*id));
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << "revoked " << *id << "\n";
        return 0;
      };
    });
  }

  auto* audit = app.add_subcommand("audit", "The audit trail of mutating calls (admin)");
  audit->require_subcommand(1);
  {
    auto* cmd = audit->add_subcommand("ls", "List audit records, newest first");
    auto limit = std::make_shared<int64_t>(50);
    cmd->add_option("--limit", *limit, "At most this many records");
    cmd->callback([&ctx, limit] {
      ctx.run = [&ctx, limit] {
        auto r = ctx.Call("GET", fmt::format("/v1/audit?limit={}", *limit));
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& a : (*r)["records"]) {
          rows.push_back({FormatTime(a.value("time_ms", int64_t{0})), a.value("actor", ""),
                          a.value("action", ""), std::to_string(a.value("status", 0)),
                          a.value("result", "")});
        }
        PrintTable({"TIME", "ACTOR", "ACTION", "STATUS", "RESULT"}, rows);
        return 0;
      };
    });
  }
}

}  // namespace berth::cli
