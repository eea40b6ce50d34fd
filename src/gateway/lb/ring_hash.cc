#include "gateway/lb/ring_hash.h"

#include <algorithm>
#include <string>

namespace berth::gateway::lb {

void RingHashLoadBalancer::Rebuild() {
  generation_ = hosts_.generation();
  ring_.clear();
  const auto& pickable = hosts_.pickable();
  if (pickable.empty()) return;
  // Points per unit of weight from the whole set (not just pickable hosts), so that a host
  // leaving does not rescale the others' points: only its own keys move.
  uint64_t total_weight = 0;
  for (const auto& h : hosts_.hosts()) total_weight += h->weight();
  const uint64_t per_weight =
      std::max<uint64_t>(1, (kMinRingSize + total_weight - 1) / total_weight);
  ring_.reserve(per_weight * total_weight);
  for (Host* h : pickable) {
    const uint64_t points = per_weight * h->weight();
    std::string key = h->address() + "_";
    const size_t base = key.size();
    for (uint64_t i = 0; i < points; ++i) {
      key.resize(base);
      key += std::to_string(i);
      ring_.emplace_back(HashKey(key), h);
    }
  }
  std::sort(ring_.begin(), ring_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

Host* RingHashLoadBalancer::ChooseHost(const LbContext& context) {
  if (generation_ != hosts_.generation()) Rebuild();
  if (ring_.empty()) return nullptr;
  const uint64_t h = context.hash ? *context.hash : random_.Next();
  auto it = std::lower_bound(ring_.begin(), ring_.end(), h,
                             [](const auto& point, uint64_t v) { return point.first < v; });
  if (it == ring_.end()) it = ring_.begin();
  return it->second;
}

}  // namespace berth::gateway::lb
