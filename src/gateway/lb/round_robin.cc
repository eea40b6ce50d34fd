#include "gateway/lb/round_robin.h"

namespace berth::gateway::lb {

Host* RoundRobinLoadBalancer::ChooseHost(const LbContext&) {
  const auto& pickable = hosts_.pickable();
  if (pickable.empty()) return nullptr;
  return pickable[next_++ % pickable.size()];
}

}  // namespace berth::gateway::lb
