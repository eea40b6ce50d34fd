#include "orchestrator/rank.h"

#include <algorithm>
#include <cmath>

namespace berth::orchestrator {

double FitScore(const NodeTable& nodes, uint32_t row, const Resources& request) {
  auto free_fraction = [](int64_t free, int64_t request, int64_t capacity) {
    if (capacity <= 0) return 0.0;
    return std::clamp(static_cast<double>(free - request) / static_cast<double>(capacity), 0.0,
                      1.0);
  };
  double cpu = free_fraction(nodes.free_cpu(row), request.cpu_millis, nodes.capacity_cpu(row));
  double mem =
      free_fraction(nodes.free_memory(row), request.memory_bytes, nodes.capacity_memory(row));
  // 10^x for x in [0, 1]: exp(x ln 10).
  constexpr double kLn10 = 2.302585092994046;
  double total = std::exp(cpu * kLn10) + std::exp(mem * kLn10);  // in [2, 20]
  return (20.0 - total) / 18.0;
}

double RankScore(const NodeTable& nodes, uint32_t row, const Resources& request,
                 PlacementStrategy strategy, AntiAffinity anti_affinity, int on_node,
                 int64_t desired) {
  double fit = FitScore(nodes, row, request);
  double score = strategy == PlacementStrategy::kBinpack ? fit : 1.0 - fit;
  if (anti_affinity == AntiAffinity::kPreferred && on_node > 0) {
    double penalty =
        -static_cast<double>(on_node + 1) / static_cast<double>(std::max<int64_t>(desired, 1));
    score = (score + penalty) / 2.0;
  }
  return score;
}

}  // namespace berth::orchestrator
