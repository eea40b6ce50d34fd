// Least request by the power of two choices: pick two pickable hosts at random and take the
// one with fewer active requests (from this worker). O(1), and avoids the herd that a global
// "least" causes. Thread-safety: one worker.
#pragma once

#include "gateway/lb/load_balancer.h"

namespace berth::gateway::lb {

class LeastRequestLoadBalancer final : public LoadBalancer {
 public:
  LeastRequestLoadBalancer(const HostSet& hosts, Random& random) : hosts_(hosts), random_(random) {}
  Host* ChooseHost(const LbContext& context) override;

 private:
  const HostSet& hosts_;
  Random& random_;
};

}  // namespace berth::gateway::lb
