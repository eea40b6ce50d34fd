// NodeGrace: the reconciler's grace period for nodes that are down or gone. A node that is
// down, or whose key vanished (its lease lapsed) while assignments still name it, keeps its
// instances for `grace`: it is treated as a cordoned node (nothing new lands there) whose
// instances count as unavailable. After the grace period the node is down (its key gone:
// absent) and the scheduler replaces its instances. The grace starts when a pass first sees
// the node missing and ends when a pass sees it back.
// Called by Reconciler::Plan on every pass; tests drive it with a ManualClock's times.
// Thread-safety: not thread-safe (one pass at a time).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "orchestrator/types.h"

namespace berth::orchestrator {

class NodeGrace {
 public:
  explicit NodeGrace(Clock::Duration grace) : grace_(grace) {}

  // Marks the nodes in their grace period at `now`: down ones become cordoned, and a
  // cordoned stand-in is added for each vanished node that `instances` name. The live
  // instances of every missing node (in its grace period or past it) become unready: they
  // count as unavailable. Call it after the agents' reports are merged into `instances`.
  void Apply(Clock::TimePoint now, std::vector<Node>& nodes, std::vector<Instance>& instances);

  // Whether `node` was down or gone at the last Apply (in its grace period or past it).
  bool Missing(const std::string& node) const { return missing_since_.count(node) > 0; }

 private:
  Clock::Duration grace_;
  // Down or vanished nodes, and since when.
  std::unordered_map<std::string, Clock::TimePoint> missing_since_;
};

}  // namespace berth::orchestrator
