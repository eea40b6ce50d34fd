// Apps on the orchestrator (the /v1/apps API):
//   berth apply -f FILE [--dry-run] [--name NAME]     (NAME: the app of a Compose file)
//   berth delete -f FILE | berth delete app [NS/]NAME
//   berth get apps|services|instances [-A] [-w]
//   berth describe app [NS/]NAME
//   berth scale [NS/]APP/SERVICE=N
// Rollouts are cmd_rollout.cc. The namespace is the global -n (command.h).
#include "cli/cmd_app.h"

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/commands.h"
#include "orchestrator/spec.h"

namespace berth::cli {
namespace {

std::string Ready(const Json& s) {
  return fmt::format("{}/{}", s.value("ready", 0), s.value("desired", 0));
}

View AppView() {
  auto ready = [](const Json& a) {
    int64_t desired = 0, ready = 0;
    for (const auto& s : a.value("services", Json::array())) {
      desired += s.value("desired", int64_t{0});
      ready += s.value("ready", int64_t{0});
    }
    return fmt::format("{}/{}", ready, desired);
  };
  auto images = [](const Json& a) {
    Json list = Json::array();
    for (const auto& s : a.value("services", Json::array())) list.push_back(s.value("image", ""));
    return JoinList(list);
  };
  return View{.kind = "app",
              .columns = {Field("NAMESPACE", "namespace"),
                          Field("NAME", "name"),
                          {"SERVICES",
                           [](const Json& a) {
                             return std::to_string(a.value("services", Json::array()).size());
                           }},
                          {"READY", ready},
                          Field("REVISION", "revision"),
                          {"IMAGES", images, true}},
              .namespaced = true};
}

View AppServiceView() {
  auto rollout = [](const Json& v) {
    if (v.contains("unschedulable")) {
      return fmt::format("{} unschedulable", v["unschedulable"].value("count", 0));
    }
    if (v.contains("waiting")) {
      return fmt::format("{} waiting for nodes", v["waiting"].value("count", 0));
    }
    return RolloutText(v);
  };
  return View{.kind = "service",
              .name = [](const Json& v) { return v.value("app", "") + "/" + v.value("name", ""); },
              .columns = {Field("NAMESPACE", "namespace"),
                          Field("APP", "app"),
                          Field("SERVICE", "name"),
                          {"READY", Ready},
                          Field("UP-TO-DATE", "up_to_date"),
                          Field("AVAILABLE", "available"),
                          {"ROLLOUT", rollout},
                          Field("IMAGE", "image", true),
                          Field("DEPLOY", "deploy_hash", true)},
              .namespaced = true};
}

View AppInstanceView() {
  return View{
      .kind = "instance",
      .name = [](const Json& v) { return v.value("id", ""); },
      .columns = {Field("NAMESPACE", "namespace"), Field("APP", "app"), Field("SERVICE", "service"),
                  Field("INSTANCE", "id"), Field("STATE", "state"), Field("MESSAGE", "message"),
                  Field("NODE", "node", true), Field("IP", "ip", true),
                  Field("IMAGE", "image", true)},
      .namespaced = true};
}

Result<Json> FetchApps(Context& ctx) {
  std::string path = "/v1/apps?instances=1";
  if (!ctx.all_namespaces) path += "&namespace=" + PathEscape(ctx.ns);
  return ctx.Call("GET", path);
}

// Every service of every app in `doc`, with its app and namespace.
Json Services(const Json& doc) {
  Json list = Json::array();
  for (const auto& a : doc.value("apps", Json::array())) {
    for (const auto& s : a.value("services", Json::array())) {
      Json v = s;
      v.erase("instances");
      v["namespace"] = a["namespace"];
      v["app"] = a["name"];
      list.push_back(std::move(v));
    }
  }
  return list;
}

// Every instance of every app in `doc`, with its service, app, namespace and image.
Json Instances(const Json& doc) {
  Json list = Json::array();
  for (const auto& a : doc.value("apps", Json::array())) {
    for (const auto& s : a.value("services", Json::array())) {
      for (const auto& i : s.value("instances", Json::array())) {
        Json v = i;
        v["namespace"] = a["namespace"];
        v["app"] = a["name"];
        v["service"] = s["name"];
        v["image"] = s.value("image", "");
        list.push_back(std::move(v));
      }
    }
  }
  return list;
}

void AddApply(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("apply", "Create or update an app from a spec file");
  struct Args {
    std::string file, name;
    bool dry_run = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("-f,--file", a->file, "App spec (YAML/JSON, or a Compose file); - for stdin")
      ->required()
      ->type_name("FILE");
  cmd->add_flag("--dry-run", a->dry_run, "Show the diff against the stored app; store nothing");
  cmd->add_option("--name", a->name, "App name for a Compose file");
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      auto text = ReadInput(a->file);
      if (!text) return PrintError(text.error());
      std::string filename = std::filesystem::path(a->file).filename().string();
      std::string q = "?filename=" + PathEscape(filename == "-" ? "app.yaml" : filename);
      if (!a->name.empty()) q += "&name=" + PathEscape(a->name);
      if (a->dry_run) q += "&dry_run=1";
      auto r = ctx.CallText("POST", "/v1/apps" + q, std::move(*text), "application/yaml");
      if (!r) return PrintError(r.error());
      if (r->contains("admission")) {  // warnings on stderr, whatever the output format
        for (const auto& w : (*r)["admission"].value("warnings", Json::array())) {
          std::cerr << "warning: admission (" << (*r)["admission"].value("mode", "")
                    << "): " << w.get<std::string>() << "\n";
        }
      }
      const std::string id = r->value("namespace", "") + "/" + r->value("name", "");
      const std::string action = r->value("action", "");
      PrintObject(ctx, *r, "app", r->value("name", ""), [&] {
        if (a->dry_run) {
          std::cout << fmt::format("app {} would be {} (dry run)\n", id, action);
          PrintDiff((*r)["diff"]);
        } else {
          std::cout << fmt::format("app {} {}", id, action);
          if (action != "unchanged")
            std::cout << fmt::format(" at revision {}", r->value("revision", 0));
          std::cout << "\n";
        }
        if (action == "unchanged") return;
        for (const auto& s : r->value("rolling", Json::array())) {
          std::cout << fmt::format("  {} {}: new version rolls out\n",
                                   a->dry_run ? "would roll out" : "rolling out", Text(s));
        }
      });
      return 0;
    };
  });
}

// The app a `delete` names: by its spec file, or [NS/]NAME.
Result<std::pair<std::string, std::string>> AppToDelete(const Context& ctx, const std::string& file,
                                                        const std::string& name) {
  if (!file.empty()) {
    auto text = ReadInput(file);
    if (!text) return std::unexpected(text.error());
    auto spec =
        orchestrator::ParseAppFile(*text, std::filesystem::path(file).filename().string(), "app");
    if (!spec) return std::unexpected(spec.error());
    return std::pair{spec->ns, spec->name};
  }
  if (name.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "say which app: `berth delete -f FILE` or `berth delete app [NS/]NAME`");
  }
  auto p = SplitName(name, ctx.ns, 1, "[NS/]NAME");
  if (!p) return std::unexpected(p.error());
  return std::pair{(*p)[0], (*p)[1]};
}

void AddDelete(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("delete", "Delete an app (by spec file or by name)");
  auto file = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  cmd->add_option("-f,--file", *file, "The app's spec file")->type_name("FILE");
  auto* by_name = cmd->add_subcommand("app", "Delete an app by name");
  by_name->add_option("name", *name, "[NS/]NAME")->required()->type_name("APP");
  auto run = [&ctx, file, name] {
    auto target = AppToDelete(ctx, *file, *name);
    if (!target) return PrintError(target.error());
    const auto& [app_ns, app_name] = *target;
    auto r = ctx.Call("DELETE", AppPath(app_ns, app_name));
    if (!r) return PrintError(r.error());
    PrintObject(ctx, *r, "app", app_name,
                [&] { std::cout << fmt::format("app {}/{} deleted\n", app_ns, app_name); });
    return 0;
  };
  cmd->callback([&ctx, run] {
    if (!ctx.run) ctx.run = run;
  });
  by_name->callback([&ctx, run] { ctx.run = run; });
}

void AddGet(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("get", "List apps, services or instances");
  cmd->require_subcommand(1);
  AddListCommand(cmd, ctx, "apps", "List apps",
                 {.view = AppView(), .fetch = FetchApps, .complete_as = "APP"});
  // -o json|yaml print {"services": [...]}: the services of the apps, not the apps.
  AddListCommand(cmd, ctx, "services", "List the apps' services",
                 {.view = AppServiceView(),
                  .fetch = [](Context& c) -> Result<Json> {
                    auto doc = FetchApps(c);
                    if (!doc) return doc;
                    return Json{{"services", Services(*doc)}};
                  },
                  .complete_as = "APP/SERVICE"});
  AddListCommand(cmd, ctx, "instances", "List the apps' instances",
                 {.view = AppInstanceView(),
                  .fetch = [](Context& c) -> Result<Json> {
                    auto doc = FetchApps(c);
                    if (!doc) return doc;
                    return Json{{"instances", Instances(*doc)}};
                  },
                  .complete_as = "INSTANCE"});
}

void PrintServiceDetail(const Json& s) {
  std::cout << fmt::format("\nService {}\n  Image:      {}\n", s.value("name", ""),
                           s.value("image", ""));
  std::cout << fmt::format("  Replicas:   {} desired, {} ready, {} available, {} up to date\n",
                           s.value("desired", 0), s.value("ready", 0), s.value("available", 0),
                           s.value("up_to_date", 0));
  if (s.contains("rollout")) {
    const Json& ro = s["rollout"];
    std::cout << fmt::format("  Rollout:    {}{}\n", RolloutText(s),
                             ro.value("reason", "").empty() ? "" : ": " + ro.value("reason", ""));
  }
  if (s.contains("autoscale")) {
    const Json& a = s["autoscale"];
    std::string targets;
    if (a.contains("target_cpu_percent"))
      targets += fmt::format(", cpu {}%", a.value("target_cpu_percent", 0));
    if (a.contains("target_rps"))
      targets += fmt::format(", {} req/s per instance", a.value("target_rps", 0));
    std::cout << fmt::format(
        "  Autoscale:  {}..{}{}, cool-down {}s{}\n", a.value("min", 0), a.value("max", 0), targets,
        a.value("cooldown_ms", int64_t{0}) / 1000,
        s.contains("cpu_millis_per_ready")
            ? fmt::format("; cpu now {}m per ready instance", s.value("cpu_millis_per_ready", 0))
            : "");
  }
  if (s.contains("unschedulable")) {
    std::cout << fmt::format("  Unschedulable: {} replica(s): {}\n",
                             s["unschedulable"].value("count", 0),
                             s["unschedulable"].value("reason", ""));
  } else if (s.contains("waiting")) {
    std::cout << fmt::format("  Pending:    {} replica(s): {}\n", s["waiting"].value("count", 0),
                             s["waiting"].value("reason", ""));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : s.value("instances", Json::array())) {
    rows.push_back({"  " + i.value("id", ""), i.value("node", ""), i.value("state", ""),
                    i.value("up_to_date", false) ? "yes" : "no", i.value("ip", ""),
                    i.value("message", "")});
  }
  if (!rows.empty()) {
    PrintTable({"  INSTANCE", "NODE", "STATE", "UP-TO-DATE", "IP", "MESSAGE"}, rows);
  }
}

void PrintAppDetail(const Json& r) {
  std::cout << fmt::format("Name:       {}\nNamespace:  {}\nRevision:   {}\n", r.value("name", ""),
                           r.value("namespace", ""), r.value("revision", 0));
  for (const auto& s : r.value("services", Json::array())) PrintServiceDetail(s);
  std::cout << "\nEvents:\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : r.value("events", Json::array())) {
    rows.push_back({"  " + FormatTime(e.value("time_ms", int64_t{0})), e.value("type", ""),
                    e.value("service", ""), e.value("reason", ""), e.value("message", "")});
  }
  if (rows.empty()) {
    std::cout << "  <none>\n";
  } else {
    PrintTable({"  TIME", "TYPE", "SERVICE", "REASON", "MESSAGE"}, rows);
  }
}

void AddDescribe(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("describe", "Show an app in detail, events included");
  cmd->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto* sub = cmd->add_subcommand("app", "Describe an app");
  sub->add_option("name", *name, "[NS/]NAME")->required()->type_name("APP");
  sub->callback([&ctx, name] {
    ctx.run = [&ctx, name] {
      auto p = SplitName(*name, ctx.ns, 1, "[NS/]NAME");
      if (!p) return PrintError(p.error());
      auto r = ctx.Call("GET", AppPath((*p)[0], (*p)[1]));
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "app", (*p)[1], [&] { PrintAppDetail(*r); });
      return 0;
    };
  });
}

void AddScale(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("scale", "Set a service's replicas: APP/SERVICE=N");
  auto target = std::make_shared<std::string>();
  cmd->add_option("target", *target, "[NS/]APP/SERVICE=N")->required()->type_name("APP/SERVICE");
  cmd->callback([&ctx, target] {
    ctx.run = [&ctx, target] {
      auto eq = target->rfind('=');
      if (eq == std::string::npos) {
        return PrintError(Error(ErrorCode::kInvalidArgument,
                                fmt::format("\"{}\" is not APP/SERVICE=N", *target)));
      }
      auto p = SplitName(target->substr(0, eq), ctx.ns, 2, "[NS/]APP/SERVICE");
      if (!p) return PrintError(p.error());
      std::string n = target->substr(eq + 1);
      char* end = nullptr;
      long long replicas = std::strtoll(n.c_str(), &end, 10);
      if (n.empty() || *end != '\0' || replicas < 0) {
        return PrintError(Error(ErrorCode::kInvalidArgument,
                                fmt::format("replicas \"{}\" is not a non-negative integer", n)));
      }
      Json body{{"replicas", replicas}};
      auto r = ctx.Call(
          "POST", AppPath((*p)[0], (*p)[1]) + "/services/" + PathEscape((*p)[2]) + "/scale", &body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "service", (*p)[1] + "/" + (*p)[2], [&] {
        std::cout << fmt::format("{}/{}/{} scaled to {}\n", (*p)[0], (*p)[1], (*p)[2], replicas);
      });
      return 0;
    };
  });
}

}  // namespace

Result<std::vector<std::string>> SplitName(const std::string& text, const std::string& ns,
                                           size_t parts, std::string_view what) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto slash = text.find('/', start);
    out.push_back(text.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  bool ok = std::none_of(out.begin(), out.end(), [](const std::string& p) { return p.empty(); });
  if (ok && out.size() == parts) out.insert(out.begin(), ns);
  if (!ok || out.size() != parts + 1) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("\"{}\" is not {}", text, what));
  }
  return out;
}

std::string AppPath(const std::string& ns, const std::string& app) {
  return "/v1/apps/" + PathEscape(ns) + "/" + PathEscape(app);
}

void PrintDiff(const Json& diff) {
  for (const auto& d : diff) {
    const std::string path = d.value("path", "");
    if (d["before"].is_null()) {
      std::cout << fmt::format("+ {}: {}\n", path, Text(d["after"]));
    } else if (d["after"].is_null()) {
      std::cout << fmt::format("- {}: {}\n", path, Text(d["before"]));
    } else {
      std::cout << fmt::format("~ {}: {} -> {}\n", path, Text(d["before"]), Text(d["after"]));
    }
  }
}

std::string RolloutText(const Json& svc) {
  if (!svc.contains("rollout")) return "-";
  const Json& r = svc["rollout"];
  std::string phase = r.value("phase", "");
  if (r.value("rolled_back", false)) phase += ", rolled back";
  return phase;
}

void AddAppCommands(CLI::App& app, Context& ctx) {
  AddApply(app, ctx);
  AddDelete(app, ctx);
  AddGet(app, ctx);
  AddDescribe(app, ctx);
  AddScale(app, ctx);
}

}  // namespace berth::cli
