#include "gateway/lb/host.h"

namespace berth::gateway::lb {

HostSet::HostSet(std::vector<HostPtr> hosts, double panic_threshold_percent)
    : hosts_(std::move(hosts)), panic_threshold_percent_(panic_threshold_percent) {
  Recompute();
}

void HostSet::Recompute() {
  pickable_.clear();
  for (const auto& h : hosts_) {
    if (h->eligible()) pickable_.push_back(h.get());
  }
  const double percent =
      hosts_.empty() ? 100.0 : 100.0 * static_cast<double>(pickable_.size()) / hosts_.size();
  panic_ = !hosts_.empty() && percent < panic_threshold_percent_;
  if (panic_) {
    pickable_.clear();
    for (const auto& h : hosts_) pickable_.push_back(h.get());
  }
  ++generation_;
}

}  // namespace berth::gateway::lb
