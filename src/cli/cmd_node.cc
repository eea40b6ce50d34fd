// berth node — the cluster's nodes.
//   berth node ls [-w]
//   berth node get NODE [-w]            (its instances too; -w: the node's row as it changes)
//   berth node cordon|uncordon NODE
//   berth node drain NODE [--wait] [--timeout 10m]

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/command.h"
#include "cli/commands.h"
#include "core/units.h"
#include "orchestrator/types.h"

namespace berth::cli {
namespace {

std::string Cpu(const Json& r) {
  return orchestrator::FormatCpu(r.value("cpu_millis", int64_t{0}));
}
std::string Mem(const Json& r) {
  return orchestrator::FormatBytes(r.value("memory_bytes", int64_t{0}));
}

std::string Labels(const Json& labels) {
  std::string out;
  for (const auto& [k, v] : labels.items()) {
    if (!out.empty()) out += ",";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out.empty() ? "-" : out;
}

View NodeView() {
  return View{
      .kind = "node",
      .name = [](const Json& n) { return n.value("id", ""); },
      .columns = {
          Field("NODE", "id"),
          Field("STATUS", "status"),
          {"READY",
           [](const Json& n) {
             return fmt::format("{}/{}", n.value("ready", int64_t{0}),
                                n.value("instances", int64_t{0}));
           }},
          {"CPU",
           [](const Json& n) {
             return fmt::format("{} / {}", Cpu(n.value("allocated", Json::object())),
                                Cpu(n.value("capacity", Json::object())));
           }},
          {"MEMORY",
           [](const Json& n) {
             return fmt::format("{} / {}", Mem(n.value("allocated", Json::object())),
                                Mem(n.value("capacity", Json::object())));
           }},
          Field("ADDRESS", "address", true),
          {"LABELS", [](const Json& n) { return Labels(n.value("labels", Json::object())); }, true},
          {"REGISTERED",
           [](const Json& n) { return FormatTime(n.value("registered_ms", int64_t{0})); }, true}}};
}

View AssignmentView() {
  return View{.kind = "instance",
              .name = [](const Json& a) { return a.value("id", ""); },
              .columns = {{"APP",
                           [](const Json& a) {
                             return a.value("namespace", "") + "/" + a.value("app", "");
                           }},
                          Field("SERVICE", "service"),
                          Field("INSTANCE", "id"),
                          Field("STATE", "state"),
                          Field("IP", "ip"),
                          Field("MESSAGE", "message")}};
}

std::string NodePath(const std::string& node) { return "/v1/nodes/" + PathEscape(node); }

// Waits until the node has no instance left, printing how many are left as that changes.
int WaitDrained(Context& ctx, const std::string& name, const std::string& timeout) {
  auto limit = ParseDuration(timeout);
  if (!limit) return PrintError(Wrap(limit.error(), "--timeout"));
  auto deadline = std::chrono::steady_clock::now() + *limit;
  int64_t last = -1;
  while (true) {
    auto n = ctx.Call("GET", NodePath(name));
    if (!n) return PrintError(n.error());
    int64_t left = n->value("instances", int64_t{0});
    if (left == 0) {
      PrintObject(ctx, *n, "node", name,
                  [&] { std::cout << fmt::format("node {} drained\n", name); });
      return 0;
    }
    if (left != last && ctx.format() == Format::kTable) {
      std::cout << fmt::format("node {} draining: {} instance(s) left\n", name, left);
      last = left;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return PrintError(Error(
          ErrorCode::kDeadlineExceeded,
          fmt::format("node {} still has {} instance(s) after {}; wait longer with --timeout, or "
                      "see why with `berth node get {}`",
                      name, left, timeout, name)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

void AddDrain(CLI::App* node, Context& ctx) {
  auto* cmd = node->add_subcommand(
      "drain", "Move a node's instances elsewhere within each service's maxUnavailable");
  auto name = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  auto timeout = std::make_shared<std::string>("10m");
  cmd->add_option("node", *name, "Node name")->required()->type_name("NODE");
  cmd->add_flag("--wait", *wait, "Wait until no instance is left on the node");
  cmd->add_option("--timeout", *timeout, "How long --wait waits")->capture_default_str();
  cmd->callback([&ctx, name, wait, timeout] {
    ctx.run = [&ctx, name, wait, timeout] {
      if (auto limit = ParseDuration(*timeout); !limit) {
        return PrintError(Wrap(limit.error(), "--timeout"));
      }
      auto r = ctx.Call("POST", NodePath(*name) + "/drain");
      if (!r) return PrintError(r.error());
      if (*wait) return WaitDrained(ctx, *name, *timeout);
      PrintObject(ctx, *r, "node", *name, [&] {
        std::cout << fmt::format("node {} draining: {} instance(s) to move\n", *name,
                                 r->value("instances", int64_t{0}));
      });
      return 0;
    };
  });
}

}  // namespace

void AddNodeCommands(CLI::App& app, Context& ctx) {
  auto* node = app.add_subcommand("node", "Cluster nodes: list, show, cordon, drain");
  node->require_subcommand(1);
  AddListCommand(node, ctx, "ls", "List nodes with their status and allocations",
                 {.view = NodeView(),
                  .fetch = [](Context& c) { return c.Call("GET", "/v1/nodes"); },
                  .complete_as = "NODE"});
  {
    // The node, then the instances assigned to it; -o json|yaml|name: the node.
    auto name = std::make_shared<std::string>();
    auto* cmd = AddListCommand(
        node, ctx, "get", "Show a node and the instances assigned to it",
        {.view = NodeView(),
         .fetch = [name](Context& c) { return c.Call("GET", NodePath(*name)); },
         .items = [](const Json& doc) { return Json::array({doc}); },
         .detail =
             [](const Context& c, const Json& doc) {
               PrintList(c, NodeView(), doc, Json::array({doc}));
               std::cout << "\n";
               PrintList(c, AssignmentView(), doc, doc.value("assignments", Json::array()));
             }});
    cmd->add_option("node", *name, "Node name")->required()->type_name("NODE");
  }
  for (const char* verb : {"cordon", "uncordon"}) {
    auto* cmd =
        node->add_subcommand(verb, std::string(verb) == "cordon"
                                       ? "Keep new instances off a node"
                                       : "Let a cordoned or drained node take instances again");
    auto name = std::make_shared<std::string>();
    cmd->add_option("node", *name, "Node name")->required()->type_name("NODE");
    std::string v = verb;
    cmd->callback([&ctx, name, v] {
      ctx.run = [&ctx, name, v] {
        auto r = ctx.Call("POST", NodePath(*name) + "/" + v);
        if (!r) return PrintError(r.error());
        PrintObject(ctx, *r, "node", *name, [&] {
          std::cout << fmt::format("node {} {}\n", *name, r->value("status", ""));
        });
        return 0;
      };
    });
  }
  AddDrain(node, ctx);
}

}  // namespace berth::cli
