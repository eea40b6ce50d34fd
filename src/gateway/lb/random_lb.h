// Uniform random choice among the pickable hosts. Thread-safety: one worker.
#pragma once

#include "gateway/lb/load_balancer.h"

namespace berth::gateway::lb {

class RandomLoadBalancer final : public LoadBalancer {
 public:
  RandomLoadBalancer(const HostSet& hosts, Random& random) : hosts_(hosts), random_(random) {}
  Host* ChooseHost(const LbContext&) override {
    const auto& pickable = hosts_.pickable();
    if (pickable.empty()) return nullptr;
    return pickable[random_.Uniform(pickable.size())];
  }

 private:
  const HostSet& hosts_;
  Random& random_;
};

}  // namespace berth::gateway::lb
