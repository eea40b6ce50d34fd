// berth node — the cluster's nodes.
//   berth node ls
//   berth node get NODE                 (its instances too)
//   berth node cordon|uncordon NODE
//   berth node drain NODE [--wait] [--timeout 10m]
#include "cli/cmd_node.h"

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "core/units.h"
#include "orchestrator/spec.h"
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

std::vector<std::string> NodeRow(const Json& n) {
  const Json& cap = n["capacity"];
  const Json& used = n["allocated"];
  return {n.value("id", ""),
          n.value("status", ""),
          n.value("address", ""),
          fmt::format("{}/{}", n.value("ready", int64_t{0}), n.value("instances", int64_t{0})),
          fmt::format("{} / {}", Cpu(used), Cpu(cap)),
          fmt::format("{} / {}", Mem(used), Mem(cap)),
          Labels(n["labels"])};
}

const std::vector<std::string> kNodeHeaders = {"NODE", "STATUS", "ADDRESS", "READY",
                                               "CPU",  "MEMORY", "LABELS"};

std::string NodePath(const std::string& node) { return "/v1/nodes/" + PathEscape(node); }

}  // namespace

void AddNodeCommands(CLI::App& app, Context& ctx) {
  auto* node = app.add_subcommand("node", "Cluster nodes: list, show, cordon, drain");
  node->require_subcommand(1);
  {
    auto* cmd = node->add_subcommand("ls", "List nodes with their status and allocations");
    cmd->callback([&ctx] {
      ctx.run = [&ctx] {
        auto r = ctx.Call("GET", "/v1/nodes");
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::vector<std::vector<std::string>> rows;
        for (const auto& n : (*r)["nodes"]) rows.push_back(NodeRow(n));
        PrintTable(kNodeHeaders, rows);
        return 0;
      };
    });
  }
  {
    auto* cmd = node->add_subcommand("get", "Show a node and the instances assigned to it");
    auto name = std::make_shared<std::string>();
    cmd->add_option("node", *name, "Node name")->required();
    cmd->callback([&ctx, name] {
      ctx.run = [&ctx, name] {
        auto r = ctx.Call("GET", NodePath(*name));
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        PrintTable(kNodeHeaders, {NodeRow(*r)});
        std::cout << "\n";
        std::vector<std::vector<std::string>> rows;
        for (const auto& a : (*r)["assignments"]) {
          rows.push_back({a.value("namespace", "") + "/" + a.value("app", ""),
                          a.value("service", ""), a.value("id", ""), a.value("state", ""),
                          a.value("ip", ""), a.value("message", "")});
        }
        PrintTable({"APP", "SERVICE", "INSTANCE", "STATE", "IP", "MESSAGE"}, rows);
        return 0;
      };
    });
  }
  for (const char* verb : {"cordon", "uncordon"}) {
    auto* cmd =
        node->add_subcommand(verb, std::string(verb) == "cordon"
                                       ? "Keep new instances off a node"
                                       : "Let a cordoned or drained node take instances again");
    auto name = std::make_shared<std::string>();
    cmd->add_option("node", *name, "Node name")->required();
    std::string v = verb;
    cmd->callback([&ctx, name, v] {
      ctx.run = [&ctx, name, v] {
        auto r = ctx.Call("POST", NodePath(*name) + "/" + v);
        if (!r) return PrintError(r.error());
        if (PrintStructured(ctx, *r)) return 0;
        std::cout << fmt::format("node {} {}\n", *name, r->value("status", ""));
        return 0;
      };
    });
  }
  {
    auto* cmd = node->add_subcommand(
        "drain", "Move a node's instances elsewhere within each service's maxUnavailable");
    auto name = std::make_shared<std::string>();
    auto wait = std::make_shared<bool>(false);
    auto timeout = std::make_shared<std::string>("10m");
    cmd->add_option("node", *name, "Node name")->required();
    cmd->add_flag("--wait", *wait, "Wait until no instance is left on the node");
    cmd->add_option("--timeout", *timeout, "How long --wait waits")->capture_default_str();
    cmd->callback([&ctx, name, wait, timeout] {
      ctx.run = [&ctx, name, wait, timeout] {
        auto limit = ParseDuration(*timeout);
        if (!limit) return PrintError(Wrap(limit.error(), "--timeout"));
        auto r = ctx.Call("POST", NodePath(*name) + "/drain");
        if (!r) return PrintError(r.error());
        if (!*wait) {
          if (PrintStructured(ctx, *r)) return 0;
          std::cout << fmt::format("node {} draining: {} instance(s) to move\n", *name,
                                   r->value("instances", int64_t{0}));
          return 0;
        }
        auto deadline = std::chrono::steady_clock::now() + *limit;
        int64_t last = -1;
        while (true) {
          auto n = ctx.Call("GET", NodePath(*name));
          if (!n) return PrintError(n.error());
          int64_t left = n->value("instances", int64_t{0});
          if (left == 0) {
            if (PrintStructured(ctx, *n)) return 0;
            std::cout << fmt::format("node {} drained\n", *name);
            return 0;
          }
          if (left != last && ctx.format() == Format::kTable) {
            std::cout << fmt::format("node {} draining: {} instance(s) left\n", *name, left);
            last = left;
          }
          if (std::chrono::steady_clock::now() > deadline) {
            return PrintError(Error(
                ErrorCode::kDeadlineExceeded,
                fmt::format("node {} still has {} instance(s) after {}", *name, left, *timeout)));
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
      };
    });
  }
}

}  // namespace berth::cli
