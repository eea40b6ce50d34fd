// Rollouts of an app's service (the /v1/apps/.../rollout API):
//   berth rollout status [NS/]APP/SERVICE [-w] [--timeout 10m]
//   berth rollout history [NS/]APP/SERVICE
//   berth rollout undo [NS/]APP/SERVICE [--to-revision N]
//   berth rollout promote|abort [NS/]APP/SERVICE          (a canary)
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/cmd_app.h"
#include "cli/command.h"
#include "cli/commands.h"
#include "core/units.h"

namespace berth::cli {
namespace {

Result<std::string> RolloutPath(const Context& ctx, const std::string& target) {
  auto p = SplitName(target, ctx.ns, 2, "[NS/]APP/SERVICE");
  if (!p) return std::unexpected(p.error());
  return AppPath((*p)[0], (*p)[1]) + "/services/" + PathEscape((*p)[2]) + "/rollout";
}

// A rollout command: `berth rollout VERB TARGET` with the target's rollout path.
CLI::App* AddVerb(
    CLI::App* parent, Context& ctx, const std::string& verb, const std::string& help,
    std::function<int(Context&, const std::string& target, const std::string& path)> run) {
  auto* sub = parent->add_subcommand(verb, help);
  auto target = std::make_shared<std::string>();
  sub->add_option("target", *target, "[NS/]APP/SERVICE")->required()->type_name("APP/SERVICE");
  sub->callback([&ctx, target, run] {
    ctx.run = [&ctx, target, run] {
      auto path = RolloutPath(ctx, *target);
      if (!path) return PrintError(path.error());
      return run(ctx, *target, *path);
    };
  });
  return sub;
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

std::string Phase(const Json& r) {
  bool current =
      r.contains("rollout") && r["rollout"].value("to", "") == r.value("deploy_hash", "");
  return current ? r["rollout"].value("phase", "") : "pending";
}

// Prints the rollout's line each time it changes until it completes, fails or pauses.
int WatchStatus(Context& ctx, const std::string& target, const std::string& path,
                const std::string& timeout) {
  auto limit = ParseDuration(timeout);
  if (!limit) return PrintError(Wrap(limit.error(), "--timeout"));
  auto deadline = std::chrono::steady_clock::now() + *limit;
  std::string last;
  while (true) {
    auto r = ctx.Call("GET", path);
    if (!r) return PrintError(r.error());
    const std::string phase = Phase(*r);
    std::string line = RolloutLine(*r);
    const bool text = ctx.format() == Format::kTable || ctx.format() == Format::kWide;
    if (line != last && text) std::cout << line << "\n" << std::flush;
    last = line;
    if (phase == "complete" || phase == "failed" || phase == "paused") {
      if (!text) PrintObject(ctx, *r, "service", target, [] {});
      return phase == "failed" ? 1 : 0;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return PrintError(Error(
          ErrorCode::kDeadlineExceeded,
          fmt::format("rollout still {} after {}; wait longer with --timeout, or look at `berth "
                      "describe app` for why",
                      phase, timeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

void AddStatus(CLI::App* cmd, Context& ctx) {
  struct Args {
    bool watch = false;
    std::string timeout = "10m";
  };
  auto a = std::make_shared<Args>();
  auto* sub = AddVerb(cmd, ctx, "status", "Show (or --watch) a service's rollout",
                      [a](Context& c, const std::string& target, const std::string& path) {
                        if (a->watch) return WatchStatus(c, target, path, a->timeout);
                        auto r = c.Call("GET", path);
                        if (!r) return PrintError(r.error());
                        PrintObject(c, *r, "service", target,
                                    [&] { std::cout << RolloutLine(*r) << "\n"; });
                        return 0;
                      });
  sub->add_flag("-w,--watch", a->watch,
                "Wait until the rollout completes, fails, or its canary waits for promotion");
  sub->add_option("--timeout", a->timeout, "Give up watching after this long")
      ->capture_default_str();
}

void AddHistory(CLI::App* cmd, Context& ctx) {
  AddVerb(
      cmd, ctx, "history", "List a service's deployed versions",
      [](Context& c, const std::string&, const std::string& path) {
        auto r = c.Call("GET", path);
        if (!r) return PrintError(r.error());
        View view{
            .kind = "revision",
            .name = [](const Json& h) { return std::to_string(h.value("revision", 0)); },
            .columns = {
                {"REVISION",
                 [](const Json& h) {
                   return std::to_string(h.value("revision", 0)) +
                          (h.value("current", false) ? " *" : "");
                 }},
                {"TIME", [](const Json& h) { return FormatTime(h.value("time_ms", int64_t{0})); }},
                Field("IMAGE", "image"),
                {"HASH", [](const Json& h) { return h.value("deploy_hash", "").substr(0, 8); }},
                Field("CAUSE", "cause"),
                Field("DEPLOY", "deploy_hash", true)}};
        const Json history = r->value("history", Json::array());
        PrintList(c, view, Json{{"history", history}}, history);
        return 0;
      });
}

void AddUndo(CLI::App* cmd, Context& ctx) {
  auto to = std::make_shared<int64_t>(0);
  auto* sub =
      AddVerb(cmd, ctx, "undo", "Go back to the previous (or a given) version",
              [to](Context& c, const std::string& target, const std::string& path) {
                Json body = Json::object();
                if (*to > 0) body["revision"] = *to;
                auto r = c.Call("POST", path + "/undo", &body);
                if (!r) return PrintError(r.error());
                PrintObject(c, *r, "service", target, [&] {
                  std::cout << fmt::format("{} rolled back ({})\n", target, r->value("action", ""));
                  PrintDiff(r->value("diff", Json::array()));
                });
                return 0;
              });
  sub->add_option("--to-revision", *to, "History revision (default: the previous version)");
}

}  // namespace

void AddRolloutCommands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "rollout", "Rollouts of a service: status, history, undo; promote or abort a canary");
  cmd->require_subcommand(1);
  AddStatus(cmd, ctx);
  AddHistory(cmd, ctx);
  AddUndo(cmd, ctx);
  for (auto [verb, help, done] :
       {std::tuple{"promote", "Roll a waiting canary out to every replica", "promoted"},
        std::tuple{"abort", "Remove a canary and send all traffic back to the stable version",
                   "aborted: back to the stable version"}}) {
    AddVerb(cmd, ctx, verb, help,
            [verb = std::string(verb), done = std::string(done)](
                Context& c, const std::string& target, const std::string& path) {
              Json body = Json::object();
              auto r = c.Call("POST", path + "/" + verb, &body);
              if (!r) return PrintError(r.error());
              PrintObject(c, *r, "service", target, [&] {
                std::cout << fmt::format("{} {}\n", target, done);
                if (r->contains("diff")) PrintDiff((*r)["diff"]);
              });
              return 0;
            });
  }
}

}  // namespace berth::cli
