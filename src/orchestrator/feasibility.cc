#include "orchestrator/feasibility.h"

#include <fmt/core.h>

#include <algorithm>

namespace berth::orchestrator {

Feasibility::Feasibility(const NodeTable& nodes, const ServiceSpec& spec,
                         const std::vector<uint16_t>& replicas_on_node)
    : nodes_(nodes),
      spec_(spec),
      replicas_on_node_(replicas_on_node),
      request_(spec.resources),
      required_anti_affinity_(spec.placement.anti_affinity == AntiAffinity::kRequired),
      class_ok_(nodes.classes(), -1) {
  for (const auto& p : spec.ports) {
    if (p.host_port != 0) host_ports_.push_back(p.host_port);
  }
  for (const auto& c : spec.placement.constraints) {
    Compiled k{nodes.keys().Find(c.key), c.op, {}};
    for (const auto& v : c.values) k.values.push_back(nodes.values().Find(v));
    constraints_.push_back(std::move(k));
  }
}

bool Feasibility::EvalOne(const Compiled& c, uint32_t cls) const {
  uint32_t have = c.key == Interner::kAbsent ? Interner::kAbsent : nodes_.LabelValue(cls, c.key);
  bool has = have != Interner::kAbsent;
  switch (c.op) {
    case Constraint::Op::kEqual:
      return has && have == c.values.front();
    case Constraint::Op::kNotEqual:
      return !has || have != c.values.front();
    case Constraint::Op::kIn:
      return has && std::find(c.values.begin(), c.values.end(), have) != c.values.end();
    case Constraint::Op::kExists:
      return has;
    case Constraint::Op::kNotExists:
      return !has;
  }
  return false;
}

bool Feasibility::EvalClass(uint32_t cls) const {
  for (const auto& c : constraints_) {
    if (!EvalOne(c, cls)) return false;
  }
  return true;
}

std::string Feasibility::Explain() const {
  const size_t n = nodes_.size();
  if (n == 0) return "no nodes have joined the cluster";
  size_t not_ready = 0, constrained = 0, anti = 0, cpu = 0, mem = 0, pids = 0, port = 0;
  // The best offer per resource among nodes that pass status, constraints and anti-affinity.
  int64_t best_cpu = -1, best_mem = -1, best_pids = -1;
  uint32_t best_cpu_row = 0, best_mem_row = 0, best_pids_row = 0;
  size_t eligible = 0;
  for (uint32_t row = 0; row < n; ++row) {
    Rejection r = Check(row);
    switch (r) {
      case Rejection::kStatus:
        ++not_ready;
        continue;
      case Rejection::kConstraint:
        ++constrained;
        continue;
      case Rejection::kAntiAffinity:
        ++anti;
        continue;
      case Rejection::kCpu:
        ++cpu;
        break;
      case Rejection::kMemory:
        ++mem;
        break;
      case Rejection::kPids:
        ++pids;
        break;
      case Rejection::kPort:
        ++port;
        break;
      case Rejection::kNone:
        break;
    }
    ++eligible;
    if (nodes_.free_cpu(row) > best_cpu) best_cpu = nodes_.free_cpu(row), best_cpu_row = row;
    if (nodes_.free_memory(row) > best_mem) best_mem = nodes_.free_memory(row), best_mem_row = row;
    if (nodes_.free_pids(row) > best_pids) best_pids = nodes_.free_pids(row), best_pids_row = row;
  }
  std::string why;
  if (eligible == 0) {
    if (not_ready == n) {
      why = fmt::format("no node is ready ({} down, cordoned or draining)", n);
    } else if (not_ready + constrained == n) {
      // Name the first constraint that no ready node satisfies, if one alone explains it.
      std::string which;
      for (size_t i = 0; i < constraints_.size() && which.empty(); ++i) {
        bool any = false;
        for (uint32_t row = 0; row < n && !any; ++row) {
          any = nodes_.status(row) == NodeStatus::kReady &&
                EvalOne(constraints_[i], nodes_.label_class(row));
        }
        if (!any) which = spec_.placement.constraints[i].ToString();
      }
      why = which.empty() ? "no ready node satisfies all constraints together"
                          : fmt::format("no ready node matches {}", which);
    } else {
      why = fmt::format(
          "anti-affinity is required and every matching node already runs a "
          "replica ({} nodes)",
          anti);
    }
  } else if (best_cpu < request_.cpu_millis) {
    why = fmt::format("no node has {} free (largest: {} on {})", FormatCpu(request_.cpu_millis),
                      FormatCpu(best_cpu), nodes_.id(best_cpu_row));
  } else if (best_mem < request_.memory_bytes) {
    why = fmt::format("no node has {} memory free (largest: {} on {})",
                      FormatBytes(request_.memory_bytes), FormatBytes(best_mem),
                      nodes_.id(best_mem_row));
  } else if (best_pids < request_.pids) {
    why = fmt::format("no node has {} pids free (largest: {} on {})", request_.pids, best_pids,
                      nodes_.id(best_pids_row));
  } else if (port == eligible) {
    std::string list;
    for (int p : host_ports_) list += (list.empty() ? "" : ", ") + std::to_string(p);
    why = fmt::format("host port {} is in use on every matching node", list);
  } else {
    why = fmt::format("no node has {} and {} memory free at once", FormatCpu(request_.cpu_millis),
                      FormatBytes(request_.memory_bytes));
  }
  std::string detail;
  auto add = [&](size_t count, std::string_view what) {
    if (count == 0) return;
    detail += fmt::format("{}{} {}", detail.empty() ? "" : ", ", count, what);
  };
  add(not_ready, "not ready");
  add(constrained, "fail constraints");
  add(anti, "already run a replica");
  add(cpu, "lack cpu");
  add(mem, "lack memory");
  add(pids, "lack pids");
  add(port, "have the host port taken");
  return fmt::format("{} ({} nodes: {})", why, n, detail);
}

}  // namespace berth::orchestrator
