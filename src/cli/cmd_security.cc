// berth token create|ls|grant|revoke, berth audit ls.
// A token's namespaces are the global -n, repeatable: `token create --role viewer -n a -n b`.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/command.h"
#include "cli/commands.h"

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
                  "-n/--namespace needs --role: the role the token gets in that namespace");
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

View TokenView() {
  return View{
      .kind = "token",
      .name = [](const Json& t) { return t.value("id", ""); },
      .columns = {
          Field("ID", "id"),
          Field("NAME", "name"),
          {"ROLES", Grants},
          Field("NODE", "node"),
          {"CREATED", [](const Json& t) { return FormatTime(t.value("created_ms", int64_t{0})); }},
          Field("CREATED_BY", "created_by")}};
}

View AuditView() {
  return View{
      .kind = "record",
      .name = [](const Json& a) { return std::to_string(a.value("time_ms", int64_t{0})); },
      .columns = {
          {"TIME", [](const Json& a) { return FormatTime(a.value("time_ms", int64_t{0})); }},
          Field("ACTOR", "actor"),
          Field("ACTION", "action"),
          Field("STATUS", "status"),
          Field("RESULT", "result"),
          Field("REMOTE", "remote", true),
          Field("TOKEN", "token_id", true)}};
}

void AddTokenCreate(CLI::App* token, Context& ctx) {
  auto* cmd = token->add_subcommand("create", "Create a token; prints it once");
  struct Args {
    std::string role, name, node;
    std::vector<std::string> binds;
  };
  auto a = std::make_shared<Args>();
  Choices(cmd->add_option("--role", a->role,
                          "The token's role: global, or with -n NS (repeatable) in those "
                          "namespaces only; admin is global only (a node token: operator)"),
          {"admin", "operator", "viewer"}, false);
  cmd->add_option("--bind", a->binds,
                  "NAMESPACE=ROLE: a role in one namespace, beside a global --role or instead "
                  "of it (repeatable), e.g. --bind shop=operator --bind billing=viewer")
      ->allow_extra_args(false);
  cmd->add_option("--name", a->name, "A name for people to recognise it by");
  cmd->add_option("--node", a->node,
                  "Bind the token to a node: the credential of that node's agent, which may "
                  "then act only as that node")
      ->type_name("NODE");
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      if (a->role.empty() && a->node.empty() && a->binds.empty()) {
        return PrintError(Error(ErrorCode::kInvalidArgument,
                                "--role is required (admin, operator or viewer), or --bind "
                                "NS=ROLE, or --node NODE for a node agent's token"));
      }
      auto body = GrantBody(a->role, ctx.namespaces, a->binds);
      if (!body) return PrintError(body.error());
      if (!a->node.empty()) (*body)["node"] = a->node;
      if (!a->name.empty()) (*body)["name"] = a->name;
      auto r = ctx.Call("POST", "/v1/tokens", &*body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "token", r->value("id", ""),
                  [&] { std::cout << r->value("token", "") << "\n"; });
      return 0;
    };
  });
}

void AddTokenGrant(CLI::App* token, Context& ctx) {
  auto* cmd = token->add_subcommand(
      "grant", "Replace a token's role and namespace bindings (takes effect on its next call)");
  struct Args {
    std::string id, role;
    std::vector<std::string> binds;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("id", a->id, "Token id (from token ls)")->required()->type_name("TOKEN");
  Choices(cmd->add_option("--role", a->role, "Global role, or with -n NS the role there"),
          {"admin", "operator", "viewer"}, false);
  cmd->add_option("--bind", a->binds, "NAMESPACE=ROLE (repeatable)")->allow_extra_args(false);
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      auto body = GrantBody(a->role, ctx.namespaces, a->binds);
      if (!body) return PrintError(body.error());
      auto r = ctx.Call("PUT", "/v1/tokens/" + PathEscape(a->id), &*body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "token", a->id,
                  [&] { std::cout << "token " << a->id << ": " << Grants(*r) << "\n"; });
      return 0;
    };
  });
}

}  // namespace

void AddSecurityCommands(CLI::App& app, Context& ctx) {
  auto* token = app.add_subcommand("token", "API tokens (admin)");
  token->require_subcommand(1);
  AddTokenCreate(token, ctx);
  AddTokenGrant(token, ctx);
  AddListCommand(token, ctx, "ls", "List tokens (never their secrets)",
                 {.view = TokenView(),
                  .fetch = [](Context& c) { return c.Call("GET", "/v1/tokens"); },
                  .complete_as = "TOKEN"});
  {
    auto* cmd = token->add_subcommand("revoke", "Revoke a token by id");
    auto id = std::make_shared<std::string>();
    cmd->add_option("id", *id, "Token id (from token ls)")->required()->type_name("TOKEN");
    cmd->callback([&ctx, id] {
      ctx.run = [&ctx, id] {
        auto r = ctx.Call("DELETE", "/v1/tokens/" + PathEscape(*id));
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "token", *id, [&] { std::cout << "revoked " << *id << "\n"; });
        return 0;
      };
    });
  }

  auto* audit = app.add_subcommand("audit", "The audit trail of mutating calls (admin)");
  audit->require_subcommand(1);
  auto limit = std::make_shared<int64_t>(50);
  auto* ls = AddListCommand(
      audit, ctx, "ls", "List audit records, newest first",
      {.view = AuditView(),
       .fetch =
           [limit](Context& c) { return c.Call("GET", fmt::format("/v1/audit?limit={}", *limit)); },
       .items = [](const Json& doc) { return doc.value("records", Json::array()); }});
  ls->add_option("--limit", *limit, "At most this many records");
}

}  // namespace berth::cli
