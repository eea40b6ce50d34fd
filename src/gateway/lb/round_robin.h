// Round robin over the pickable hosts, ignoring weights. Starts at a random offset so that
// workers do not all hit the first host in step. Thread-safety: one worker.
#pragma once

#include "gateway/lb/load_balancer.h"

namespace berth::gateway::lb {

class RoundRobinLoadBalancer final : public LoadBalancer {
 public:
  RoundRobinLoadBalancer(const HostSet& hosts, Random& random)
      : hosts_(hosts), next_(random.Next()) {}
  Host* ChooseHost(const LbContext& context) override;

 private:
  const HostSet& hosts_;
  uint64_t next_;
};

}  // namespace berth::gateway::lb
