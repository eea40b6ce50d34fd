// Smooth weighted round robin (NGINX's algorithm): each pick adds every host's weight to its
// current score, takes the highest and subtracts the total from it. Over a cycle of
// sum(weights) picks each host gets exactly its weight, interleaved rather than in bursts
// (weights 5,1,1 give a a b a c a a). State resets when the pickable set changes.
// Thread-safety: one worker.
#pragma once

#include <vector>

#include "gateway/lb/load_balancer.h"

namespace berth::gateway::lb {

class WeightedRoundRobinLoadBalancer final : public LoadBalancer {
 public:
  explicit WeightedRoundRobinLoadBalancer(const HostSet& hosts) : hosts_(hosts) {}
  Host* ChooseHost(const LbContext& context) override;

 private:
  const HostSet& hosts_;
  uint64_t generation_ = ~uint64_t{0};
  std::vector<int64_t> current_;  // aligned with hosts_.pickable()
};

}  // namespace berth::gateway::lb
