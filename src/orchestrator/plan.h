// Step 4 of the scheduler pipeline (see README.md): choose a node for each placement and
// collect the result. Selection follows Nomad's limit iterator: nodes are visited in one
// shuffled order (seeded by the injected Random) from a cursor that keeps moving between
// placements; the first `limit` feasible nodes are scored and the best one wins. A
// placement therefore costs O(limit / feasible fraction), not O(nodes), and consecutive
// placements see different nodes.
// The Plan holds pointers into the apps and instances the scheduler was given: keep them
// alive while using it.
// Thread-safety: not thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/random.h"
#include "orchestrator/feasibility.h"
#include "orchestrator/node_table.h"
#include "orchestrator/reconcile.h"
#include "orchestrator/types.h"

namespace berth::orchestrator {

struct Plan {
  struct Service {
    const App* app = nullptr;
    const ServiceSpec* spec = nullptr;
  };
  struct Placement {
    std::string instance_id;
    uint32_t service = 0;  // index into services
    uint32_t node = 0;     // NodeTable row
  };
  // Replicas that could not be placed, with the reason ("no node has 8 GiB memory free
  // (largest: 2 GiB on node-3) (...)"); the rest of the service's placements are skipped.
  struct Failure {
    uint32_t service = 0;
    int64_t count = 0;
    std::string reason;
  };

  std::vector<Service> services;
  std::vector<Placement> placements;
  std::vector<Stop> stops;
  std::vector<const Instance*> updates;  // rewrite the assignment with the current spec
  std::vector<Failure> failures;
  // Specs the scheduler made for this plan (the two halves of a canary) that `services`
  // point to.
  std::vector<std::unique_ptr<ServiceSpec>> owned_specs;

  // The Instance a placement creates, as the reconciler writes it.
  Instance MakeInstance(const Placement& p, const NodeTable& nodes) const;
};

// The selection step: one per plan.
class Selector {
 public:
  // `limit` 0 picks the default: max(16, ceil(log2(nodes))), at most the node count.
  Selector(const NodeTable& nodes, Random& random, int limit = 0);

  // Returns the best of the first `limit` feasible nodes from the cursor, or nullopt when
  // a full turn finds none. `score(row)` ranks a feasible node; higher wins.
  template <typename ScoreFn>
  std::optional<uint32_t> Select(const Feasibility& feasibility, ScoreFn&& score) {
    const size_t n = order_.size();
    int found = 0;
    double best = -std::numeric_limits<double>::infinity();
    uint32_t best_row = 0;
    for (size_t scanned = 0; scanned < n && found < limit_; ++scanned) {
      uint32_t row = order_[cursor_];
      if (++cursor_ == n) cursor_ = 0;
      if (feasibility.Check(row) != Rejection::kNone) continue;
      ++found;
      double s = score(row);
      if (s > best) {
        best = s;
        best_row = row;
      }
    }
    if (found == 0) return std::nullopt;
    return best_row;
  }

  int limit() const { return limit_; }

 private:
  std::vector<uint32_t> order_;
  size_t cursor_ = 0;
  int limit_;
};

}  // namespace berth::orchestrator
