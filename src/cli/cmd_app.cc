// Apps on the orchestrator (the /v1/apps API):
//   berth apply -f FILE [--dry-run] [--name NAME]     (NAME: the app of a Compose file)
//   berth delete -f FILE | berth delete app [NS/]NAME
//   berth get apps|services|instances [-n NS | -A]
//   berth describe app [NS/]NAME
//   berth scale [NS/]APP/SERVICE=N
//   berth rollout status|history|undo|promote|abort [NS/]APP/SERVICE [--watch] [--to-revision N]
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "core/units.h"
#include "orchestrator/spec.h"

namespace berth::cli {
namespace {

Result<std::string> ReadFile(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path);
  if (!in) return Fail(ErrorCode::kNotFound, fmt::format("cannot read {}", path));
  ss << in.rdbuf();
  return ss.str();
}

std::string Leaf(const Json& j) {
  if (j.is_null()) return "";
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

// "[NS/]A/B" with a default namespace -> {ns, a, b}; "[NS/]A" -> {ns, a}.
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
  for (const auto& p : out) {
    if (p.empty()) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("\"{}\" is not {}", text, what));
    }
  }
  if (out.size() == parts) out.insert(out.begin(), ns);
  if (out.size() != parts + 1) {
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
      std::cout << fmt::format("+ {}: {}\n", path, Leaf(d["after"]));
    } else if (d["after"].is_null()) {
      std::cout << fmt::format("- {}: {}\n", path, Leaf(d["before"]));
    } else {
      std::cout << fmt::format("~ {}: {} -> {}\n", path, Leaf(d["before"]), Leaf(d["after"]));
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

// One service's rollout in a line: "progressing: 2 of 3 new available, 1 outdated (img)".
std::string RolloutLine(const Json& s) {
  const std::string current = s.value("deploy_hash", "");
  if (!s.contains("rollout") || s["rollout"].value("to", "") != current) {
    return fmt::format("pending: the controller has not seen revision {} yet",
                       current.substr(0, 8));
  }
  const Json& r = s["rollout"];
  std::string line =
      fmt::format("{}: {} of {} new replicas available, {} outdated left, {} failed ({})",
                  r.value("phase", ""), r.value("new_available", 0), r.value("desired", 0),
                  r.value("outdated", 0), r.value("new_failed", 0), r.value("image", ""));
  if (r.contains("canary") && r["canary"].is_object()) {
    // "paused: canary 1 of 1 available (shop/web:2), 10% of traffic; stable 3 of 3 (shop/web:1)"
    const Json& c = r["canary"];
    const std::string state = c.value("state", "");
    if (state == "canary") {
      line = fmt::format(
          "{}: canary {} of {} available ({}), {}% of traffic; stable {} of {} "
          "available ({})",
          r.value("phase", ""), r.value("new_available", 0), c.value("replicas", 0),
          r.value("image", ""), c.value("weight", 0), c.value("stable_available", 0),
          c.value("stable_total", 0), c.value("stable_image", ""));
      if (!r.value("reason", "").empty()) line += ": " + r.value("reason", "");
      if (r.value("phase", "") == "paused") {
        line += "; waiting for berth rollout promote|abort";
      }
    } else {
      line += fmt::format(" (canary {})", state);
    }
  }
  if (r.value("rolled_back", false)) line += " — rolled back to the previous version";
  return line;
}

void AddApply(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("apply", "Create or update an app from a spec file");
  struct Args {
    std::string file, name;
    bool dry_run = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("-f,--file", a->file, "App spec (YAML/JSON, or a Compose file); - for stdin")
      ->required();
  cmd->add_flag("--dry-run", a->dry_run, "Show the diff against the stored app; store nothing");
  cmd->add_option("--name", a->name, "App name for a Compose file");
  cmd->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      auto text = ReadFile(a->file);
      if (!text) return PrintError(text.error());
      std::string filename = std::filesystem::path(a->file).filename().string();
      std::string q = "?filename=" + PathEscape(filename == "-" ? "app.yaml" : filename);
      if (!a->name.empty()) q += "&name=" + PathEscape(a->name);
      if (a->dry_run) q += "&dry_run=1";
      auto r = ctx.CallText("POST", "/v1/apps" + q, std::move(*text), "application/yaml");
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      if (r->contains("admission")) {
        for (const auto& w : (*r)["admission"]["warnings"]) {
          std::cerr << "warning: admission (" << (*r)["admission"].value("mode", "")
                    << "): " << w.get<std::string>() << "\n";
        }
      }
      std::string id = r->value("namespace", "") + "/" + r->value("name", "");
      std::string action = r->value("action", "");
      if (a->dry_run) {
        std::cout << fmt::format("app {} would be {} (dry run)\n", id,
                                 action == "unchanged" ? "unchanged" : action);
        PrintDiff((*r)["diff"]);
      } else {
        std::cout << fmt::format("app {} {}", id, action);
        if (action != "unchanged")
          std::cout << fmt::format(" at revision {}", r->value("revision", 0));
        std::cout << "\n";
      }
      for (const auto& s : (*r)["rolling"]) {
        if (action != "unchanged") {
          std::cout << fmt::format("  {} {}: new version rolls out\n",
                                   a->dry_run ? "would roll out" : "rolling out", Leaf(s));
        }
      }
      return 0;
    };
  });
}

void AddDelete(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("delete", "Delete an app (by spec file or by name)");
  auto file = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto ns = std::make_shared<std::string>("default");
  cmd->add_option("-f,--file", *file, "The app's spec file");
  cmd->add_option("-n,--namespace", *ns, "Namespace")->capture_default_str();
  auto* by_name = cmd->add_subcommand("app", "Delete an app by name");
  by_name->add_option("name", *name, "[NS/]NAME")->required();
  auto run = [&ctx, file, name, ns] {
    std::string app_ns, app_name;
    if (!file->empty()) {
      auto text = ReadFile(*file);
      if (!text) return PrintError(text.error());
      auto spec = orchestrator::ParseAppFile(
          *text, std::filesystem::path(*file).filename().string(), "app");
      if (!spec) return PrintError(spec.error());
      app_ns = spec->ns;
      app_name = spec->name;
    } else if (!name->empty()) {
      auto p = SplitName(*name, *ns, 1, "[NS/]NAME");
      if (!p) return PrintError(p.error());
      app_ns = (*p)[0];
      app_name = (*p)[1];
    } else {
      return PrintError(Error(ErrorCode::kInvalidArgument, "give -f FILE or `app NAME`"));
    }
    auto r = ctx.Call("DELETE", AppPath(app_ns, app_name));
    if (!r) return PrintError(r.error());
    if (PrintStructured(ctx, *r)) return 0;
    std::cout << fmt::format("app {}/{} deleted\n", app_ns, app_name);
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
  auto ns = std::make_shared<std::string>("default");
  auto all = std::make_shared<bool>(false);
  cmd->add_option("-n,--namespace", *ns, "Namespace")->capture_default_str();
  cmd->add_flag("-A,--all-namespaces", *all, "Every namespace");
  for (std::string what : {"apps", "services", "instances"}) {
    auto* sub = cmd->add_subcommand(what, "List " + what);
    sub->callback([&ctx, ns, all, what] {
      ctx.run = [&ctx, ns, all, what] {
        std::string path = "/v1/apps?instances=1";
        if (!*all) path += "&namespace=" + PathEscape(*ns);
        auto r = ctx.Call("GET", path);
        if (!r) return PrintError(r.error());
        if (what == "apps") {
          if (PrintStructured(ctx, *r)) return 0;
          std::vector<std::vector<std::string>> rows;
          for (const auto& a : (*r)["apps"]) {
            int64_t desired = 0, ready = 0;
            for (const auto& s : a["services"]) {
              desired += s.value("desired", int64_t{0});
              ready += s.value("ready", int64_t{0});
            }
            rows.push_back({a.value("namespace", ""), a.value("name", ""),
                            std::to_string(a["services"].size()),
                            fmt::format("{}/{}", ready, desired),
                            std::to_string(a.value("revision", 0))});
          }
          PrintTable({"NAMESPACE", "NAME", "SERVICES", "READY", "REVISION"}, rows);
          return 0;
        }
        Json list = Json::array();
        for (const auto& a : (*r)["apps"]) {
          for (const auto& s : a["services"]) {
            if (what == "services") {
              Json v = s;
              v.erase("instances");
              v["namespace"] = a["namespace"];
              v["app"] = a["name"];
              list.push_back(std::move(v));
              continue;
            }
            for (const auto& i : s["instances"]) {
              Json v = i;
              v["namespace"] = a["namespace"];
              v["app"] = a["name"];
              v["service"] = s["name"];
              list.push_back(std::move(v));
            }
          }
        }
        if (PrintStructured(ctx, Json{{what, list}})) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& v : list) {
          if (what == "services") {
            std::string status = RolloutText(v);
            if (v.contains("unschedulable")) {
              status = fmt::format("{} unschedulable", v["unschedulable"].value("count", 0));
            } else if (v.contains("waiting")) {
              status = fmt::format("{} waiting for nodes", v["waiting"].value("count", 0));
            }
            rows.push_back({v.value("namespace", ""), v.value("app", ""), v.value("name", ""),
                            v.value("image", ""),
                            fmt::format("{}/{}", v.value("ready", 0), v.value("desired", 0)),
                            std::to_string(v.value("up_to_date", 0)),
                            std::to_string(v.value("available", 0)), status});
          } else {
            rows.push_back({v.value("namespace", ""), v.value("app", ""), v.value("service", ""),
                            v.value("id", ""), v.value("node", ""), v.value("state", ""),
                            v.value("ip", ""), v.value("message", "")});
          }
        }
        if (what == "services") {
          PrintTable({"NAMESPACE", "APP", "SERVICE", "IMAGE", "READY", "UP-TO-DATE", "AVAILABLE",
                      "ROLLOUT"},
                     rows);
        } else {
          PrintTable({"NAMESPACE", "APP", "SERVICE", "INSTANCE", "NODE", "STATE", "IP", "MESSAGE"},
                     rows);
        }
        return 0;
      };
    });
  }
}

void AddDescribe(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("describe", "Show an app in detail, events included");
  cmd->require_subcommand(1);
  auto ns = std::make_shared<std::string>("default");
  auto name = std::make_shared<std::string>();
  cmd->add_option("-n,--namespace", *ns, "Namespace")->capture_default_str();
  auto* sub = cmd->add_subcommand("app", "Describe an app");
  sub->add_option("name", *name, "[NS/]NAME")->required();
  sub->callback([&ctx, ns, name] {
    ctx.run = [&ctx, ns, name] {
      auto p = SplitName(*name, *ns, 1, "[NS/]NAME");
      if (!p) return PrintError(p.error());
      auto r = ctx.Call("GET", AppPath((*p)[0], (*p)[1]));
      if (!r) return PrintError(r.error());
      if (PrintStructured(ctx, *r)) return 0;
      std::cout << fmt::format("Name:       {}\nNamespace:  {}\nRevision:   {}\n",
                               r->value("name", ""), r->value("namespace", ""),
                               r->value("revision", 0));
      for (const auto& s : (*r)["services"]) {
        std::cout << fmt::format("\nService {}\n  Image:      {}\n", s.value("name", ""),
                                 s.value("image", ""));
        std::cout << fmt::format(
            "  Replicas:   {} desired, {} ready, {} available, {} up to date\n",
            s.value("desired", 0), s.value("ready", 0), s.value("available", 0),
            s.value("up_to_date", 0));
        if (s.contains("rollout")) {
          const Json& ro = s["rollout"];
          std::cout << fmt::format(
              "  Rollout:    {}{}\n", RolloutText(s),
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
              "  Autoscale:  {}..{}{}, cool-down {}s{}\n", a.value("min", 0), a.value("max", 0),
              targets, a.value("cooldown_ms", int64_t{0}) / 1000,
              s.contains("cpu_millis_per_ready") ? fmt::format("; cpu now {}m per ready instance",
                                                               s.value("cpu_millis_per_ready", 0))
                                                 : "");
        }
        if (s.contains("unschedulable")) {
          std::cout << fmt::format("  Unschedulable: {} replica(s): {}\n",
                                   s["unschedulable"].value("count", 0),
                                   s["unschedulable"].value("reason", ""));
        } else if (s.contains("waiting")) {
          std::cout << fmt::format("  Pending:    {} replica(s): {}\n",
                                   s["waiting"].value("count", 0), s["waiting"].value("reason", ""));
        }
        std::vector<std::vector<std::string>> rows;
        for (const auto& i : s["instances"]) {
          rows.push_back({"  " + i.value("id", ""), i.value("node", ""), i.value("state", ""),
                          i.value("up_to_date", false) ? "yes" : "no", i.value("ip", ""),
                          i.value("message", "")});
        }
        if (!rows.empty()) {
          PrintTable({"  INSTANCE", "NODE", "STATE", "UP-TO-DATE", "IP", "MESSAGE"}, rows);
        }
      }
      std::cout << "\nEvents:\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : (*r)["events"]) {
        rows.push_back({"  " + FormatTime(e.value("time_ms", int64_t{0})), e.value("type", ""),
                        e.value("service", ""), e.value("reason", ""), e.value("message", "")});
      }
      if (rows.empty()) {
        std::cout << "  <none>\n";
      } else {
        PrintTable({"  TIME", "TYPE", "SERVICE", "REASON", "MESSAGE"}, rows);
      }
      return 0;
    };
  });
}

void AddScale(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("scale", "Set a service's replicas: APP/SERVICE=N");
  auto ns = std::make_shared<std::string>("default");
  auto target = std::make_shared<std::string>();
  cmd->add_option("-n,--namespace", *ns, "Namespace")->capture_default_str();
  cmd->add_option("target", *target, "[NS/]APP/SERVICE=N")->required();
  cmd->callback([&ctx, ns, target] {
    ctx.run = [&ctx, ns, target] {
      auto eq = target->rfind('=');
      if (eq == std::string::npos) {
        return PrintError(Error(ErrorCode::kInvalidArgument,
                                fmt::format("\"{}\" is not APP/SERVICE=N", *target)));
      }
      auto p = SplitName(target->substr(0, eq), *ns, 2, "[NS/]APP/SERVICE");
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
      if (PrintStructured(ctx, *r)) return 0;
      std::cout << fmt::format("{}/{}/{} scaled to {}\n", (*p)[0], (*p)[1], (*p)[2], replicas);
      return 0;
    };
  });
}

void AddRollout(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "rollout", "Rollouts of a service: status, history, undo; promote or abort a canary");
  cmd->require_subcommand(1);
  auto ns = std::make_shared<std::string>("default");
  cmd->add_option("-n,--namespace", *ns, "Namespace")->capture_default_str();
  auto path_of = [ns](const std::string& target) -> Result<std::string> {
    auto p = SplitName(target, *ns, 2, "[NS/]APP/SERVICE");
    if (!p) return std::unexpected(p.error());
    return AppPath((*p)[0], (*p)[1]) + "/services/" + PathEscape((*p)[2]) + "/rollout";
  };
  {
    auto* sub = cmd->add_subcommand("status", "Show (or --watch) a service's rollout");
    auto target = std::make_shared<std::string>();
    auto watch = std::make_shared<bool>(false);
    auto timeout = std::make_shared<std::string>("10m");
    sub->add_option("target", *target, "[NS/]APP/SERVICE")->required();
    sub->add_flag("-w,--watch", *watch,
                  "Wait until the rollout completes, fails, or its canary waits for promotion");
    sub->add_option("--timeout", *timeout, "Give up watching after this long")
        ->capture_default_str();
    sub->callback([&ctx, target, watch, timeout, path_of] {
      ctx.run = [&ctx, target, watch, timeout, path_of] {
        auto path = path_of(*target);
        if (!path) return PrintError(path.error());
        auto limit = ParseDuration(*timeout);
        if (!limit) return PrintError(Wrap(limit.error(), "--timeout"));
        auto deadline = std::chrono::steady_clock::now() + *limit;
        std::string last;
        while (true) {
          auto r = ctx.Call("GET", *path);
          if (!r) return PrintError(r.error());
          bool current = r->contains("rollout") &&
                         (*r)["rollout"].value("to", "") == r->value("deploy_hash", "");
          std::string phase = current ? (*r)["rollout"].value("phase", "") : "pending";
          if (!*watch) {
            if (PrintStructured(ctx, *r)) return 0;
            std::cout << RolloutLine(*r) << "\n";
            return 0;
          }
          std::string line = RolloutLine(*r);
          if (line != last && ctx.format() == Format::kTable)
            std::cout << line << "\n" << std::flush;
          last = line;
          if (phase == "complete" || phase == "failed" || phase == "paused") {
            PrintStructured(ctx, *r);
            return phase == "failed" ? 1 : 0;
          }
          if (std::chrono::steady_clock::now() > deadline) {
            return PrintError(Error(ErrorCode::kDeadlineExceeded,
                                    fmt::format("rollout still {} after {}", phase, *timeout)));
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
      };
    });
  }
  {
    auto* sub = cmd->add_subcommand("history", "List a service's deployed versions");
    auto target = std::make_shared<std::string>();
    sub->add_option("target", *target, "[NS/]APP/SERVICE")->required();
    sub->callback([&ctx, target, path_of] {
      ctx.run = [&ctx, target, path_of] {
        auto path = path_of(*target);
        if (!path) return PrintError(path.error());
        auto r = ctx.Call("GET", *path);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, Json{{"history", (*r)["history"]}})) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& h : (*r)["history"]) {
          rows.push_back(
              {std::to_string(h.value("revision", 0)) + (h.value("current", false) ? " *" : ""),
               FormatTime(h.value("time_ms", int64_t{0})), h.value("image", ""),
               h.value("deploy_hash", "").substr(0, 8), h.value("cause", "")});
        }
        PrintTable({"REVISION", "TIME", "IMAGE", "HASH", "CAUSE"}, rows);
        return 0;
      };
    });
  }
  {
    auto* sub = cmd->add_subcommand("undo", "Go back to the previous (or a given) version");
    auto target = std::make_shared<std::string>();
    auto to = std::make_shared<int64_t>(0);
    sub->add_option("target", *target, "[NS/]APP/SERVICE")->required();
    sub->add_option("--to-revision", *to, "History revision (default: the previous version)");
    sub->callback([&ctx, target, to, path_of] {
      ctx.run = [&ctx, target, to, path_of] {
        auto path = path_of(*target);
        if (!path) return PrintError(path.error());
        Json body = Json::object();
        if (*to > 0) body["revision"] = *to;
        auto r = ctx.Call("POST", *path + "/undo", &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << fmt::format("{} rolled back ({})\n", *target, r->value("action", ""));
        PrintDiff((*r)["diff"]);
        return 0;
      };
    });
  }
  for (auto [verb, help, done] :
       {std::tuple{"promote", "Roll a waiting canary out to every replica", "promoted"},
        std::tuple{"abort", "Remove a canary and send all traffic back to the stable version",
                   "aborted: back to the stable version"}}) {
    auto* sub = cmd->add_subcommand(verb, help);
    auto target = std::make_shared<std::string>();
    sub->add_option("target", *target, "[NS/]APP/SERVICE")->required();
    sub->callback([&ctx, target, path_of, verb = std::string(verb), done = std::string(done)] {
      ctx.run = [&ctx, target, path_of, verb, done] {
        auto path = path_of(*target);
        if (!path) return PrintError(path.error());
        Json body = Json::object();
        auto r = ctx.Call("POST", *path + "/" + verb, &body);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << fmt::format("{} {}\n", *target, done);
        if (r->contains("diff")) PrintDiff((*r)["diff"]);
        return 0;
      };
    });
  }
}

}  // namespace

// Options of a parent (-n, and berth's own -o/--addr) also work after a subcommand:
// `berth get services -n shop -o json`.
void FallThrough(CLI::App* cmd) {
  cmd->fallthrough();
  for (auto* sub : cmd->get_subcommands([](CLI::App*) { return true; })) FallThrough(sub);
}

void AddAppCommands(CLI::App& app, Context& ctx) {
  AddApply(app, ctx);
  AddDelete(app, ctx);
  AddGet(app, ctx);
  AddDescribe(app, ctx);
  AddScale(app, ctx);
  AddRollout(app, ctx);
  for (auto name : {"apply", "delete", "get", "describe", "scale", "rollout"}) {
    FallThrough(app.get_subcommand(name));
  }
}

}  // namespace berth::cli
