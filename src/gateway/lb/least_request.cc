#include "gateway/lb/least_request.h"

namespace berth::gateway::lb {

Host* LeastRequestLoadBalancer::ChooseHost(const LbContext&) {
  const auto& pickable = hosts_.pickable();
  if (pickable.empty()) return nullptr;
  if (pickable.size() == 1) return pickable[0];
  const uint64_t a = random_.Uniform(pickable.size());
  uint64_t b = random_.Uniform(pickable.size() - 1);
  if (b >= a) ++b;  // two distinct hosts
  Host* ha = pickable[a];
  Host* hb = pickable[b];
  return hb->active_requests() < ha->active_requests() ? hb : ha;
}

}  // namespace berth::gateway::lb
