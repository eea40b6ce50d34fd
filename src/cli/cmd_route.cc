// berth route apply|ls|get|rm — the gateway's routes, stored by the control plane.
//   berth route apply -f FILE [--dry-run] [--force]   routes.yaml (YAML or JSON; - for stdin)
//   berth route ls [-w]
//   berth route get NAME [-w]
//   berth route rm NAME [--force]

#include <fmt/core.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/command.h"
#include "cli/commands.h"

namespace berth::cli {
namespace {

std::string MatchText(const Json& route) {
  const Json match = route.value("match", Json::object());
  std::string out;
  if (match.contains("exact")) {
    out = "=" + match["exact"].get<std::string>();
  } else if (match.contains("regex")) {
    out = "~" + match["regex"].get<std::string>();
  } else {
    out = match.value("prefix", std::string("/")) + "*";
  }
  if (match.contains("methods")) out += " " + JoinList(match["methods"]);
  return out;
}

std::string TargetText(const Json& t) {
  std::string out;
  if (t.contains("service")) {
    // "shop/web[deploy=3f2a...]:9090": tags and port select part of the service.
    out = t.value("namespace", std::string("default")) + "/" + t["service"].get<std::string>();
    if (t.contains("tags")) out += "[" + JoinList(t["tags"]) + "]";
    if (t.contains("port")) out += ":" + t["port"].dump();
  } else if (t.contains("upstreams")) {
    std::vector<std::string> addrs;
    for (const auto& u : t["upstreams"]) {
      addrs.push_back(u.is_string() ? u.get<std::string>() : u.value("address", std::string()));
    }
    out = fmt::format("{}", fmt::join(addrs, ","));
  }
  if (t.contains("weight")) out += fmt::format("({})", t["weight"].dump());
  return out;
}

std::string TargetsText(const Json& route) {
  if (route.contains("targets")) {
    std::vector<std::string> parts;
    for (const auto& t : route["targets"]) parts.push_back(TargetText(t));
    return fmt::format("{}", fmt::join(parts, " "));
  }
  return TargetText(route);
}

View RouteView() {
  auto route = [](const Json& r) { return r.value("route", Json::object()); };
  return View{.kind = "route",
              .columns = {Field("NAME", "name"),
                          {"HOSTS",
                           [route](const Json& r) {
                             const Json x = route(r);
                             return x.contains("hosts") ? JoinList(x["hosts"]) : "*";
                           }},
                          {"MATCH", [route](const Json& r) { return MatchText(route(r)); }},
                          {"TARGETS", [route](const Json& r) { return TargetsText(route(r)); }},
                          Field("OWNER", "owner"),
                          Field("REVISION", "mod_revision", true)}};
}

}  // namespace

void AddRouteCommands(CLI::App& app, Context& ctx) {
  auto* route =
      app.add_subcommand("route", "Gateway routes: apply a routes.yaml, list, show, remove");
  route->require_subcommand(1);
  {
    auto* cmd = route->add_subcommand("apply", "Store every route (and service) of a routes.yaml");
    struct Args {
      std::string file;
      bool dry_run = false;
      bool force = false;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("-f,--file", a->file, "routes.yaml (YAML or JSON; - reads stdin)")
        ->required()
        ->type_name("FILE");
    cmd->add_flag("--dry-run", a->dry_run, "Check and show what would change; store nothing");
    cmd->add_flag("--force", a->force, "Replace routes owned by something else (an app)");
    cmd->callback([&ctx, a] {
      ctx.run = [&ctx, a] {
        auto text = ReadInput(a->file);
        if (!text) return PrintError(text.error());
        std::string path = "/v1/routes:apply";
        std::string q;
        if (a->dry_run) q += "&dry_run";
        if (a->force) q += "&force";
        if (!q.empty()) path += "?" + q.substr(1);
        const bool json = text->find_first_not_of(" \t\r\n") != std::string::npos &&
                          (*text)[text->find_first_not_of(" \t\r\n")] == '{';
        auto r = ctx.CallText("POST", path, std::move(*text),
                              json ? "application/json" : "application/yaml");
        if (!r) return PrintError(r.error());
        const Json items = r->value("items", Json::array());
        if (PrintStructured(ctx, *r)) return 0;
        for (const auto& i : items) {
          if (ctx.format() == Format::kName) {
            std::cout << fmt::format("{}/{}\n", i.value("kind", ""), i.value("name", ""));
            continue;
          }
          std::cout << fmt::format("{}/{} {}{}\n", i.value("kind", ""), i.value("name", ""),
                                   i.value("action", ""), a->dry_run ? " (dry run)" : "");
        }
        return 0;
      };
    });
  }
  AddListCommand(route, ctx, "ls", "List the stored routes",
                 {.view = RouteView(),
                  .fetch = [](Context& c) { return c.Call("GET", "/v1/routes"); },
                  .complete_as = "ROUTE"});
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = AddListCommand(
        route, ctx, "get", "Show one route",
        {.view = RouteView(),
         .fetch = [name](Context& c) { return c.Call("GET", "/v1/routes/" + PathEscape(*name)); },
         .items = [](const Json& doc) { return Json::array({doc}); }});
    cmd->add_option("name", *name, "Route name")->required()->type_name("ROUTE");
  }
  {
    auto* cmd = route->add_subcommand("rm", "Remove a route");
    auto name = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    cmd->add_option("name", *name, "Route name")->required()->type_name("ROUTE");
    cmd->add_flag("--force", *force, "Remove it even when an app owns it");
    cmd->callback([&ctx, name, force] {
      ctx.run = [&ctx, name, force] {
        auto r = ctx.Call("DELETE", "/v1/routes/" + PathEscape(*name) + (*force ? "?force" : ""));
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "route", *name,
                    [&] { std::cout << fmt::format("route {} removed\n", *name); });
        return 0;
      };
    });
  }
}

}  // namespace berth::cli
