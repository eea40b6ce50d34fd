// Step 3 of the scheduler pipeline (see README.md): score a feasible node for one more
// instance of a service; higher is better. After Nomad's rank iterators:
// - fit: Nomad's ScoreFitBinPack on cpu and memory after the placement,
//   20 - (10^free_cpu + 10^free_mem) normalised to [0, 1]; binpack uses it as is (fuller
//   nodes score higher), spread uses 1 - fit (emptier nodes score higher);
// - anti-affinity (preferred): when the node already runs c replicas of the service, a
//   penalty -(c + 1) / replicas, averaged with the fit score as Nomad averages its scorers.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "orchestrator/node_table.h"
#include "orchestrator/types.h"

namespace berth::orchestrator {

// Fit of `request` on `row` in [0, 1] (1: the node would be full).
double FitScore(const NodeTable& nodes, uint32_t row, const Resources& request);

// The final score of `row` for one more instance of a service with `desired` replicas, of
// which `on_node` already run on the node.
double RankScore(const NodeTable& nodes, uint32_t row, const Resources& request,
                 PlacementStrategy strategy, AntiAffinity anti_affinity, int on_node,
                 int64_t desired);

}  // namespace berth::orchestrator
