// Consistent hashing on a ring (Ketama): each host owns points on a 64-bit ring in
// proportion to its weight; a request goes to the first point at or after its hash. Adding
// or removing a host moves only ~1/N of the keys. The ring is rebuilt when the pickable set
// changes; requests without a hash pick at random. Thread-safety: one worker.
#pragma once

#include <utility>
#include <vector>

#include "gateway/lb/load_balancer.h"

namespace berth::gateway::lb {

class RingHashLoadBalancer final : public LoadBalancer {
 public:
  static constexpr size_t kMinRingSize = 1024;

  RingHashLoadBalancer(const HostSet& hosts, Random& random) : hosts_(hosts), random_(random) {}
  Host* ChooseHost(const LbContext& context) override;

 private:
  void Rebuild();

  const HostSet& hosts_;
  Random& random_;
  uint64_t generation_ = ~uint64_t{0};
  std::vector<std::pair<uint64_t, Host*>> ring_;  // sorted by hash
};

}  // namespace berth::gateway::lb
