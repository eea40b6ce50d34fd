#include "gateway/lb/maglev.h"

#include <algorithm>

namespace berth::gateway::lb {

void MaglevLoadBalancer::Rebuild() {
  generation_ = hosts_.generation();
  table_.assign(0, nullptr);
  const auto& pickable = hosts_.pickable();
  if (pickable.empty()) return;
  struct Entry {
    Host* host;
    uint64_t offset;
    uint64_t skip;
    uint64_t next = 0;  // index into the permutation
    uint64_t weight;
    uint64_t filled = 0;
  };
  std::vector<Entry> entries;
  entries.reserve(pickable.size());
  uint32_t max_weight = 0;
  for (Host* h : pickable) max_weight = std::max(max_weight, h->weight());
  for (Host* h : pickable) {
    const uint64_t h1 = HashKey(h->address());
    const uint64_t h2 = HashKey(h->address() + "#skip");
    entries.push_back(Entry{h, h1 % table_size_, (h2 % (table_size_ - 1)) + 1, 0, h->weight()});
  }
  table_.assign(table_size_, nullptr);
  uint64_t filled = 0;
  for (uint64_t iteration = 1; filled < table_size_; ++iteration) {
    for (auto& e : entries) {
      if (filled >= table_size_) break;
      // Weighted: a host fills a slot only when its accumulated weight reaches the turn.
      // (weight/max_weight * iteration >= filled + 1, in integers.)
      if (e.weight * iteration < uint64_t{max_weight} * (e.filled + 1)) continue;
      ++e.filled;
      uint64_t slot = (e.offset + e.skip * e.next) % table_size_;
      while (table_[slot] != nullptr) {
        ++e.next;
        slot = (e.offset + e.skip * e.next) % table_size_;
      }
      table_[slot] = e.host;
      ++e.next;
      ++filled;
    }
  }
}

Host* MaglevLoadBalancer::ChooseHost(const LbContext& context) {
  if (generation_ != hosts_.generation()) Rebuild();
  if (table_.empty()) return nullptr;
  const uint64_t h = context.hash ? *context.hash : random_.Next();
  return table_[h % table_size_];
}

}  // namespace berth::gateway::lb
