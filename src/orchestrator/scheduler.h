// The scheduler: runs the pipeline of README.md over every service of every app —
//   reconcile (reconcile.h) -> feasibility (feasibility.h) -> rank (rank.h) -> plan (plan.h)
// and returns one Plan: placements, stops, in-place updates and unplaceable replicas with
// their reasons. It allocates the plan's placements (and releases its stops) in the
// NodeTable it was given, so the table afterwards shows the cluster as the plan leaves it.
// Deterministic for a given Random seed, node table and input order.
// Called by the reconciler loop (reconciler.h) on the leader, and by bench/scheduler.cc.
// Thread-safety: not thread-safe; one Schedule() at a time per Scheduler.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/random.h"
#include "orchestrator/canary.h"
#include "orchestrator/node_table.h"
#include "orchestrator/plan.h"
#include "orchestrator/types.h"

namespace berth::orchestrator {

struct SchedulerOptions {
  // Feasible nodes scored per placement; 0: max(16, ceil(log2(nodes))).
  int candidate_limit = 0;
};

class Scheduler {
 public:
  Scheduler(NodeTable& nodes, Random& random, SchedulerOptions options = {});

  // `apps` is the desired state; `instances` the actual one (only Live() ones count).
  // `now_ms` is wall-clock millis, for minReadySeconds. A service with a canary record in
  // state canary for its current version (`canaries`, by "ns/app/svc") is reconciled as two
  // halves: the stable spec at `replicas` over the instances of other versions, the current
  // spec at `update.canary` over its own.
  Plan Schedule(std::span<const App> apps, std::span<const Instance> instances, int64_t now_ms,
                const CanaryMap* canaries = nullptr);

 private:
  NodeTable& nodes_;
  Random& random_;
  SchedulerOptions options_;
  std::vector<uint16_t> on_node_;  // replicas of the service being placed, per node row
};

}  // namespace berth::orchestrator
