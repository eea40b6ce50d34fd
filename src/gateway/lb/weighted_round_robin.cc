#include "gateway/lb/weighted_round_robin.h"

namespace berth::gateway::lb {

Host* WeightedRoundRobinLoadBalancer::ChooseHost(const LbContext&) {
  const auto& pickable = hosts_.pickable();
  if (pickable.empty()) return nullptr;
  if (generation_ != hosts_.generation()) {
    generation_ = hosts_.generation();
    current_.assign(pickable.size(), 0);
  }
  int64_t total = 0;
  size_t best = 0;
  for (size_t i = 0; i < pickable.size(); ++i) {
    const int64_t w = pickable[i]->weight();
    current_[i] += w;
    total += w;
    if (current_[i] > current_[best]) best = i;
  }
  current_[best] -= total;
  return pickable[best];
}

}  // namespace berth::gateway::lb
