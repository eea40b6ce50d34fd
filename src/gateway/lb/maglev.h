// Maglev consistent hashing (Google's Maglev paper, weighted as in Envoy): a lookup table of
// a prime size M filled by each host's permutation (offset, skip from two hashes of its
// address), hosts taking turns in proportion to their weight. Lookup is table[hash % M]: O(1)
// and with minimal disruption when a host leaves. Rebuilt when the pickable set changes;
// requests without a hash pick at random. Thread-safety: one worker.
#pragma once

#include <vector>

#include "gateway/lb/load_balancer.h"

namespace berth::gateway::lb {

class MaglevLoadBalancer final : public LoadBalancer {
 public:
  static constexpr uint64_t kTableSize = 65537;

  MaglevLoadBalancer(const HostSet& hosts, Random& random, uint64_t table_size = kTableSize)
      : hosts_(hosts), random_(random), table_size_(table_size) {}
  Host* ChooseHost(const LbContext& context) override;

 private:
  void Rebuild();

  const HostSet& hosts_;
  Random& random_;
  const uint64_t table_size_;
  uint64_t generation_ = ~uint64_t{0};
  std::vector<Host*> table_;
};

}  // namespace berth::gateway::lb
