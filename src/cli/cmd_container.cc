// berth run|ps|logs|exec|stop|start|rm|inspect — containers on the node agent (verbs after
// docker/nomad), over the agent endpoints (api/container_endpoints.h).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/commands.h"
#include "cli/pull_progress.h"
#include "core/units.h"

namespace berth::cli {
namespace {

std::string Status(const Json& c) {
  std::string s = c.value("status", "");
  if (s == "exited") {
    s += fmt::format(" ({})", c.value("exit_code", 0));
    if (c.value("oom_killed", false)) s += " oom-killed";
  }
  if (s == "restarting") s += fmt::format(" (in {} ms)", c.value("next_restart_in_ms", 0));
  return s;
}

std::string ContainerPath(const std::string& name) { return "/v1/containers/" + PathEscape(name); }

View ContainerView() {
  return View{
      .kind = "container",
      .columns = {
          {"ID", [](const Json& c) { return ShortId(c.value("id", "")); }},
          Field("NAMESPACE", "namespace"),
          Field("NAME", "name"),
          Field("IMAGE", "image"),
          {"STATUS", Status},
          Field("IP", "ip"),
          {"PORTS", [](const Json& c) { return JoinList(c.value("ports", Json::array())); }},
          Field("RESTARTS", "restart_count"),
          Field("PID", "pid", true),
          Field("RESTART", "restart_policy", true),
          {"CREATED", [](const Json& c) { return FormatTime(c.value("created_ms", int64_t{0})); },
           true},
          Field("ERROR", "error", true)}};
}

// Adds a NAME positional and runs `call(name)`, printing the container it returns (in a table
// format: its name, or the whole JSON with `whole`).
void NameCommand(CLI::App* parent, Context& ctx, const char* verb, const char* help,
                 std::function<Result<Json>(Context&, const std::string&)> call,
                 bool whole = false) {
  auto* cmd = parent->add_subcommand(verb, help);
  auto name = std::make_shared<std::string>();
  cmd->add_option("name", *name, "Container name or id")->required()->type_name("CONTAINER");
  cmd->callback([&ctx, name, call, whole] {
    ctx.run = [&ctx, name, call, whole] {
      auto r = call(ctx, *name);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "container", r->value("name", *name),
                  [&] { std::cout << (whole ? r->dump(2) : r->value("name", *name)) << "\n"; });
      return 0;
    };
  });
}

struct RunOptions {
  std::string name, image, memory, user, restart = "never", network = "bridge";
  std::vector<std::string> env, ports, args, cap_add;
  double cpus = 0;
  int64_t pids = 0;
  bool read_only = false, privileged = false, userns = false;

  Json Body() const {
    Json body{{"image", image}, {"restart", restart}, {"network", network}};
    if (!name.empty()) body["name"] = name;
    if (!env.empty()) body["env"] = env;
    if (!ports.empty()) body["ports"] = ports;
    if (!memory.empty()) body["memory"] = memory;
    if (cpus > 0) body["cpus"] = cpus;
    if (pids > 0) body["pids"] = pids;
    if (read_only) body["read_only"] = true;
    if (!user.empty()) body["user"] = user;
    if (privileged) body["privileged"] = true;
    if (!cap_add.empty()) body["cap_add"] = cap_add;
    if (userns) body["userns"] = true;
    if (!args.empty()) body["cmd"] = args;
    return body;
  }
};

void AddRun(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("run", "Run a container from an image");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("--name", o->name, "Container name");
  cmd->add_option("-e,--env", o->env, "Environment variable K=V (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("-p,--publish", o->ports,
                  "Publish HOSTPORT:PORT[/tcp|udp] on 127.0.0.1 (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--memory", o->memory, "Memory limit (64m, 1g)");
  cmd->add_option("--cpus", o->cpus, "CPU limit in cores (0.5)");
  cmd->add_option("--pids", o->pids, "Process limit");
  cmd->add_flag("--read-only", o->read_only, "Read-only root filesystem");
  cmd->add_option("--user", o->user, "User uid[:gid] or name from the image");
  Choices(cmd->add_option("--restart", o->restart, "Restart policy"),
          {"always", "on-failure", "never"}, false);
  Choices(cmd->add_option("--network", o->network, "Network"), {"bridge", "none", "host"}, false);
  cmd->add_flag("--privileged", o->privileged, "Lift the security profile (admin only)");
  cmd->add_option("--cap-add", o->cap_add, "Add a capability (admin only)")
      ->allow_extra_args(false);
  cmd->add_flag("--userns", o->userns, "Remap container root to an unprivileged host uid");
  cmd->add_option("image", o->image, "Image")->required()->type_name("IMAGE");
  cmd->add_option("command", o->args, "Command and arguments (after --)");
  cmd->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      Json body = o->Body();
      body["namespace"] = ctx.ns;  // who may see and touch it
      auto r = ctx.Call("POST", "/v1/containers", &body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "container", r->value("name", ""),
                  [&] { std::cout << r->value("name", "") << " " << r->value("id", "") << "\n"; });
      return 0;
    };
  });
}

// `berth logs CONTAINER`; `berth logs query|tail ...` are the log center's (cmd_logs.cc).
void AddLogs(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "logs", "Print a container's output, or use the log center (query, tail, patterns, ...)");
  auto name = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  auto tail = std::make_shared<int64_t>(0);
  cmd->add_option("name", *name, "Container")->type_name("CONTAINER");
  cmd->add_flag("-f,--follow", *follow, "Keep printing new output");
  cmd->add_option("--tail", *tail, "Only the last N lines");
  AddLogQueryCommands(*cmd, ctx);
  cmd->callback([&ctx, cmd, name, follow, tail] {
    if (!cmd->get_subcommands().empty()) return;  // logs query|tail set ctx.run
    if (name->empty()) {
      ctx.run = [] {
        return PrintError(
            Error(ErrorCode::kInvalidArgument,
                  "berth logs needs a container (berth logs NAME) or a command: "
                  "query, tail, patterns, exceptions, errors, slow-routes; `berth logs "
                  "--help` says more"));
      };
      return;
    }
    ctx.run = [&ctx, name, follow, tail] {
      std::string path = ContainerPath(*name) + "/logs?tail=" + std::to_string(*tail);
      if (*follow) path += "&follow";
      auto r = ctx.Stream(path, [&](const Json& line) {
        if (line.contains("error")) return false;
        if (ctx.structured()) {
          std::cout << line.dump() << std::endl;
          return true;
        }
        (line.value("stream", "") == "stderr" ? std::cerr : std::cout)
            << line.value("text", "") << "\n";
        return true;
      });
      if (!r) return PrintError(r.error());
      return 0;
    };
  });
}

void AddExec(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("exec", "Run a command in a running container");
  auto name = std::make_shared<std::string>();
  auto args = std::make_shared<std::vector<std::string>>();
  auto timeout = std::make_shared<std::string>("0");
  cmd->add_option("name", *name, "Container")->required()->type_name("CONTAINER");
  cmd->add_option("command", *args, "Command (after --)")->required();
  cmd->add_option("--timeout", *timeout, "Kill the command after this long (0: never)")
      ->capture_default_str()
      ->type_name("DURATION");
  cmd->callback([&ctx, name, args, timeout] {
    ctx.run = [&ctx, name, args, timeout] {
      auto limit = ParseDuration(*timeout);
      if (!limit) return PrintError(Wrap(limit.error(), "--timeout"));
      Json body{{"cmd", *args}, {"timeout_ms", limit->count()}};
      auto r = ctx.Call("POST", ContainerPath(*name) + "/exec", &body);
      if (!r) return PrintError(r.error());
      PrintObject(ctx, *r, "container", *name, [&] {
        std::cout << r->value("stdout", "");
        std::cerr << r->value("stderr", "");
      });
      if (r->value("timed_out", false)) {
        // As timeout(1) does: 124 and a line saying so.
        std::cerr << fmt::format("berth: exec in {} timed out after {} and was killed\n", *name,
                                 FormatDuration(*limit));
        return 124;
      }
      return r->value("exit_code", 1);
    };
  });
}

void AddStopAndRm(CLI::App& app, Context& ctx) {
  {
    auto* cmd = app.add_subcommand("stop", "Stop a container (SIGTERM, grace, SIGKILL)");
    auto name = std::make_shared<std::string>();
    auto grace = std::make_shared<int64_t>(10);
    cmd->add_option("name", *name, "Container")->required()->type_name("CONTAINER");
    cmd->add_option("-t,--time", *grace, "Seconds to wait before SIGKILL");
    cmd->callback([&ctx, name, grace] {
      ctx.run = [&ctx, name, grace] {
        Json body{{"grace_ms", *grace * 1000}};
        auto r = ctx.Call("POST", ContainerPath(*name) + "/stop", &body);
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "container", r->value("name", *name),
                    [&] { std::cout << r->value("name", "") << " " << Status(*r) << "\n"; });
        return 0;
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("rm", "Remove a container");
    auto name = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    cmd->add_option("name", *name, "Container")->required()->type_name("CONTAINER");
    cmd->add_flag("-f,--force", *force, "Kill it first if running");
    cmd->callback([&ctx, name, force] {
      ctx.run = [&ctx, name, force] {
        auto r = ctx.Call("DELETE", ContainerPath(*name) + (*force ? "?force" : ""));
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "container", *name, [&] { std::cout << *name << "\n"; });
        return 0;
      };
    });
  }
}

}  // namespace

void AddContainerCommands(CLI::App& app, Context& ctx) {
  AddRun(app, ctx);
  auto all = std::make_shared<bool>(false);
  auto* ps =
      AddListCommand(&app, ctx, "ps", "List containers",
                     {.view = ContainerView(),
                      .fetch =
                          [all](Context& c) {
                            return c.Call("GET", *all ? "/v1/containers?all" : "/v1/containers");
                          },
                      .complete_as = "CONTAINER"});
  ps->add_flag("-a,--all", *all, "Include exited containers");
  AddLogs(app, ctx);
  AddExec(app, ctx);
  AddStopAndRm(app, ctx);
  NameCommand(
      &app, ctx, "start", "Start an exited container",
      [](Context& c, const std::string& n) { return c.Call("POST", ContainerPath(n) + "/start"); });
  NameCommand(
      &app, ctx, "inspect", "Show a container",
      [](Context& c, const std::string& n) { return c.Call("GET", ContainerPath(n)); }, true);
}

}  // namespace berth::cli
