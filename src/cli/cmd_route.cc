// berth route apply|ls|get|rm — the gateway's routes, stored by the control plane.
//   berth route apply -f FILE [--dry-run] [--force]   routes.yaml (YAML or JSON; - for stdin)
//   berth route ls
//   berth route get NAME
//   berth route rm NAME [--force]
// `-o json|yaml` prints the API's answer; the table is the default.
#include "cli/cmd_route.h"

#include <fmt/core.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace berth::cli {
namespace {

std::string Join(const Json& array) {
  std::string out;
  if (!array.is_array()) return out;
  for (const auto& v : array) {
    if (!out.empty()) out += ",";
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

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
  if (match.contains("methods")) out += " " + Join(match["methods"]);
  return out;
}

std::string TargetText(const Json& t) {
  std::string out;
  if (t.contains("service")) {
    // "shop/web[deploy=3f2a...]:9090": tags and port select part of the service.
    out = t.value("namespace", std::string("default")) + "/" + t["service"].get<std::string>();
    if (t.contains("tags")) out += "[" + Join(t["tags"]) + "]";
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

std::vector<std::string> Row(const Json& r) {
  const Json route = r.value("route", Json::object());
  return {r.value("name", ""), route.contains("hosts") ? Join(route["hosts"]) : "*",
          MatchText(route), TargetsText(route), r.value("owner", "")};
}

const std::vector<std::string> kHeaders = {"NAME", "HOSTS", "MATCH", "TARGETS", "OWNER"};

Result<std::string> ReadInput(const std::string& file) {
  std::stringstream ss;
  if (file == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(ErrorCode::kNotFound, fmt::format("cannot open {}", file));
    ss << in.rdbuf();
  }
  return ss.str();
}

}  // namespace

void AddRouteCommands(CLI::App& app, Context& ctx) {
  auto* route =
      app.add_subcommand("route", "Gateway routes: apply a routes.yaml, list, show, remove");
  route->require_subcommand(1);
  route->fallthrough();  // `berth route get NAME -o yaml`: -o belongs to `route`
  route->add_option("-o,--output", ctx.output, "table | json | yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  {
    auto* cmd = route->add_subcommand("apply", "Store every route (and service) of a routes.yaml");
    struct Args {
      std::string file;
      bool dry_run = false;
      bool force = false;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("-f,--file", a->file, "routes.yaml (YAML or JSON; - reads stdin)")->required();
    cmd->add_flag("--dry-run", a->dry_run, "Check and show what would change; store nothing");
    cmd->add_flag("--force", a->force, "Replace routes owned by something else (an app)");
    cmd->fallthrough();
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
        if (PrintStructured(ctx, *r)) return 0;
        for (const auto& i : (*r)["items"]) {
          std::cout << fmt::format("{}/{} {}{}\n", i.value("kind", ""), i.value("name", ""),
                                   i.value("action", ""), a->dry_run ? " (dry run)" : "");
        }
        return 0;
      };
    });
  }
  {
    auto* cmd = route->add_subcommand("ls", "List the stored routes");
    cmd->fallthrough();
    cmd->callback([&ctx] {
      ctx.run = [&ctx] {
        auto r = ctx.Call("GET", "/v1/routes");
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& x : (*r)["routes"]) rows.push_back(Row(x));
        PrintTable(kHeaders, rows);
        return 0;
      };
    });
  }
  {
    auto* cmd = route->add_subcommand("get", "Show one route");
    cmd->fallthrough();
    auto name = std::make_shared<std::string>();
    cmd->add_option("name", *name, "Route name")->required();
    cmd->callback([&ctx, name] {
      ctx.run = [&ctx, name] {
        auto r = ctx.Call("GET", "/v1/routes/" + PathEscape(*name));
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        PrintTable(kHeaders, {Row(*r)});
        return 0;
      };
    });
  }
  {
    auto* cmd = route->add_subcommand("rm", "Remove a route");
    cmd->fallthrough();
    auto name = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    cmd->add_option("name", *name, "Route name")->required();
    cmd->add_flag("--force", *force, "Remove it even when an app owns it");
    cmd->callback([&ctx, name, force] {
      ctx.run = [&ctx, name, force] {
        auto r = ctx.Call("DELETE", "/v1/routes/" + PathEscape(*name) + (*force ? "?force" : ""));
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << fmt::format("route {} removed\n", *name);
        return 0;
      };
    });
  }
}

}  // namespace berth::cli
