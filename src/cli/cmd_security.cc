// berth token create|ls|grant|revoke, berth audit ls.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/cli.h"

namespace berth::cli {
namespace {

// The body of POST /v1/tokens and PUT /v1/tokens/{id}: --role (global, or with --namespace the
// role in those), --bind NS=ROLE.
Result<Json> GrantBody(const std::string& role, const std::vector<std::string>& namespaces,
                       const std::vector<std::string>& binds) {
  Json body = Json::object();
  if (!role.empty()) body["role"] = role;
  if (!namespaces.empty()) {
    if (role.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--namespace needs --role: the role the token gets in that namespace");
    }
    body["namespaces"] = namespaces;
  }
  if (!binds.empty()) {
    Json list = Json::array();
    for (const auto& b : binds) {
      auto eq = b.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == b.size()) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("--bind {}: want NAMESPACE=ROLE, e.g. shop=operator", b));
      }
      list.push_back({{"namespace", b.substr(0, eq)}, {"role", b.substr(eq + 1)}});
    }
    body["bindings"] = std::move(list);
  }
  return body;
}

// "admin", "operator of shop, viewer of billing", "viewer; operator of shop".
std::string Grants(const Json& t) {
  std::string out;
  std::string role = t.value("role", "none");
  if (role != "none") out = role;
  std::string bound;
  for (const auto& b : t.value("bindings", Json::array())) {
    if (!bound.empty()) bound += ", ";
    bound += b.value("role", "") + " of " + b.value("namespace", "");
  }
  if (!bound.empty()) out += (out.empty() ? "" : "; ") + bound;
  return out.empty() ? "-" : out;
}

}  // namespace

void AddSecurityCommands(CLI::App& app, Context& ctx) {
  auto* token = app.add_subcommand("token", "API tokens (admin)");
  token->require_subcommand(1);
  {
    auto* cmd = token->add_subcommand("create", "Create a token; prints it once");
    auto role = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    auto node = std::make_shared<std::string>();
    auto namespaces = std::make_shared<std::vector<std::string>>();
    auto binds = std::make_shared<std::vector<std::string>>();
    cmd->add_option("--role", *role,
                    "admin, operator or viewer: global, or with --namespace in those namespaces "
                    "only (a node token: operator)");
    cmd->add_option(
        "-n,--namespace", *namespaces,
        "Give --role in this namespace only (repeat for several); admin is global only");
    cmd->add_option("--bind", *binds,
                    "NAMESPACE=ROLE: a role in one namespace, beside a global --role or instead "
                    "of it (repeatable), e.g. --bind shop=operator --bind billing=viewer");
    cmd->add_option("--name", *name, "A name for people to recognise it by");
    cmd->add_option("--node", *node,
                    "Bind the token to a node: the credential of that node's agent, which may "
                    "then act only as that node");
    cmd->callback([&ctx, role, name, node, namespaces, binds] {
      ctx.run = [&ctx, role, name, node, namespaces, binds] {
        if (role->empty() && node->empty() && binds->empty()) {
          std::cerr << "error: --role is required (or --bind NS=ROLE, or --node for a node "
                       "token)\n";
          return 2;
        }
        auto body = GrantBody(*role, *namespaces, *binds);
        if (!body) return PrintError(body.error());
        if (!node->empty()) (*body)["node"] = *node;
        if (!name->empty()) (*body)["name"] = *name;
        auto r = ctx.Call("POST", "/v1/tokens", &*body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << (*r)["token"].get<std::string>() << "\n";
        return 0;
      };
    });
  }
  {
    auto* cmd = token->add_subcommand(
        "grant", "Replace a token's role and namespace bindings (takes effect on its next call)");
    auto id = std::make_shared<std::string>();
    auto role = std::make_shared<std::string>();
    auto namespaces = std::make_shared<std::vector<std::string>>();
    auto binds = std::make_shared<std::vector<std::string>>();
    cmd->add_option("id", *id, "Token id (from token ls)")->required();
    cmd->add_option("--role", *role, "Global role, or with --namespace the role there");
    cmd->add_option("-n,--namespace", *namespaces, "Give --role in this namespace only");
    cmd->add_option("--bind", *binds, "NAMESPACE=ROLE (repeatable)");
    cmd->callback([&ctx, id, role, namespaces, binds] {
      ctx.run = [&ctx, id, role, namespaces, binds] {
        auto body = GrantBody(*role, *namespaces, *binds);
        if (!body) return PrintError(body.error());
        auto r = ctx.Call("PUT", "/v1/tokens/" + PathEscape(*id), &*body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << "token " << *id << ": " << Grants(*r) << "\n";
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
          rows.push_back({t.value("id", ""), t.value("name", ""), Grants(t),
                          node.empty() ? "-" : node, FormatTime(t.value("created_ms", int64_t{0})),
                          t.value("created_by", "")});
        }
        PrintTable({"ID", "NAME", "ROLES", "NODE", "CREATED", "CREATED_BY"}, rows);
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
