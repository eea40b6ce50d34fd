// Step 2 of the scheduler pipeline (see README.md): can this node take one more instance of
// this service? Filters, cheapest first: node status (ready, not cordoned or draining),
// label constraints (evaluated once per node label class and cached), required
// anti-affinity, cpu, memory, pids, host ports. Built once per service per plan.
// When nothing fits, Explain() scans every node and says why, naming the resource
// ("no node has 8 GiB memory free (largest: 2 GiB on node-3)").
// Thread-safety: not thread-safe (the class cache is filled lazily).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/node_table.h"
#include "orchestrator/types.h"

namespace berth::orchestrator {

enum class Rejection : uint8_t {
  kNone,
  kStatus,
  kConstraint,
  kAntiAffinity,
  kCpu,
  kMemory,
  kPids,
  kPort,
};

class Feasibility {
 public:
  // `replicas_on_node[row]` counts this service's instances per node (for required
  // anti-affinity); the caller keeps it current while placing.
  Feasibility(const NodeTable& nodes, const ServiceSpec& spec,
              const std::vector<uint16_t>& replicas_on_node);

  Rejection Check(uint32_t row) const {
    if (nodes_.status(row) != NodeStatus::kReady) return Rejection::kStatus;
    if (!constraints_.empty() && !ClassMatches(nodes_.label_class(row))) {
      return Rejection::kConstraint;
    }
    if (required_anti_affinity_ && replicas_on_node_[row] > 0) return Rejection::kAntiAffinity;
    if (request_.cpu_millis > nodes_.free_cpu(row)) return Rejection::kCpu;
    if (request_.memory_bytes > nodes_.free_memory(row)) return Rejection::kMemory;
    if (request_.pids > nodes_.free_pids(row)) return Rejection::kPids;
    if (!host_ports_.empty() && !nodes_.PortsFree(row, host_ports_)) return Rejection::kPort;
    return Rejection::kNone;
  }

  // Why no node fits, from a scan of every node.
  std::string Explain() const;

  const Resources& request() const { return request_; }
  const std::vector<int>& host_ports() const { return host_ports_; }

 private:
  struct Compiled {
    uint32_t key;
    Constraint::Op op;
    std::vector<uint32_t> values;  // interned; Interner::kAbsent for values no node has
  };

  bool ClassMatches(uint32_t cls) const {
    int8_t& c = class_ok_[cls];
    if (c < 0) c = EvalClass(cls) ? 1 : 0;
    return c == 1;
  }
  bool EvalClass(uint32_t cls) const;
  bool EvalOne(const Compiled& c, uint32_t cls) const;

  const NodeTable& nodes_;
  const ServiceSpec& spec_;
  const std::vector<uint16_t>& replicas_on_node_;
  Resources request_;
  std::vector<int> host_ports_;
  bool required_anti_affinity_ = false;
  std::vector<Compiled> constraints_;
  mutable std::vector<int8_t> class_ok_;  // per label class: -1 unknown, 0 no, 1 yes
};

}  // namespace berth::orchestrator
