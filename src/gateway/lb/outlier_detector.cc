#include "gateway/lb/outlier_detector.h"

#include <algorithm>

namespace berth::gateway::lb {

OutlierDetector::OutlierDetector(HostSet& hosts, const OutlierConfig& config, const Clock& clock)
    : hosts_(hosts), config_(config), clock_(clock) {
  for (const auto& h : hosts_.hosts()) {
    if (h->ejected_) next_unejection_ = std::min(next_unejection_, h->ejected_until_);
  }
}

void OutlierDetector::Report(Host& host, Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess:
      host.consecutive_5xx_ = 0;
      host.consecutive_connect_failures_ = 0;
      return;
    case Outcome::k5xx:
      ++host.consecutive_5xx_;
      if (config_.consecutive_5xx > 0 && host.consecutive_5xx_ >= config_.consecutive_5xx) {
        Eject(host);
      }
      return;
    case Outcome::kConnectFailure:
      ++host.consecutive_connect_failures_;
      if (config_.consecutive_connect_failures > 0 &&
          host.consecutive_connect_failures_ >= config_.consecutive_connect_failures) {
        Eject(host);
      }
      return;
  }
}

void OutlierDetector::Eject(Host& host) {
  host.consecutive_5xx_ = 0;
  host.consecutive_connect_failures_ = 0;
  if (host.ejected_) return;
  const size_t total = hosts_.hosts().size();
  if (total == 0) return;
  size_t ejected_now = 0;
  for (const auto& h : hosts_.hosts()) ejected_now += h->ejected_ ? 1 : 0;
  if (100.0 * (ejected_now + 1) / total > config_.max_ejection_percent && ejected_now > 0) {
    return;  // never eject more than the cap (one host may always go)
  }
  ++host.ejection_count_;
  auto duration = std::min<Clock::Duration>(config_.base_ejection_time * host.ejection_count_,
                                            config_.max_ejection_time);
  host.ejected_ = true;
  host.ejected_until_ = clock_.Now() + duration;
  next_unejection_ = std::min(next_unejection_, host.ejected_until_);
  ++ejections_total_;
  hosts_.Recompute();
  if (on_eject_) on_eject_(host);
}

void OutlierDetector::Refresh() {
  const auto now = clock_.Now();
  if (now < next_unejection_) return;
  next_unejection_ = Clock::TimePoint::max();
  bool changed = false;
  for (const auto& h : hosts_.hosts()) {
    if (!h->ejected_) continue;
    if (h->ejected_until_ <= now) {
      h->ejected_ = false;
      changed = true;
    } else {
      next_unejection_ = std::min(next_unejection_, h->ejected_until_);
    }
  }
  if (changed) hosts_.Recompute();
}

}  // namespace berth::gateway::lb
