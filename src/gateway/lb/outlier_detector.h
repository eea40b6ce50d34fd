// Passive health: outlier detection after Envoy's. The proxy reports each upstream outcome;
// `consecutive_5xx` 5xx responses or `consecutive_connect_failures` connect failures in a row
// eject the host for base_ejection_time × (times ejected so far), capped at
// max_ejection_time, unless max_ejection_percent of the set is already ejected. Ejected hosts
// leave HostSet::pickable() (unless the set is in panic) and come back when their time is up,
// checked lazily by Refresh() before each pick, so there is no timer.
// Thread-safety: none; one worker owns a detector and its HostSet.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "core/clock.h"
#include "gateway/lb/host.h"

namespace berth::gateway::lb {

struct OutlierConfig {
  uint32_t consecutive_5xx = 5;               // 0 disables
  uint32_t consecutive_connect_failures = 5;  // 0 disables
  std::chrono::milliseconds base_ejection_time{30'000};
  std::chrono::milliseconds max_ejection_time{300'000};
  double max_ejection_percent = 50.0;
};

enum class Outcome { kSuccess, k5xx, kConnectFailure };

class OutlierDetector {
 public:
  // Hosts may arrive already ejected (kept across a snapshot update); their ejection runs on.
  OutlierDetector(HostSet& hosts, const OutlierConfig& config, const Clock& clock);

  // Records the outcome of one request to `host` (a member of the set).
  void Report(Host& host, Outcome outcome);
  // Returns hosts whose ejection has ended; cheap when none is due.
  void Refresh();

  // Called on each ejection (for metrics).
  void set_on_eject(std::function<void(const Host&)> f) { on_eject_ = std::move(f); }
  uint64_t ejections_total() const { return ejections_total_; }

 private:
  void Eject(Host& host);

  HostSet& hosts_;
  OutlierConfig config_;
  const Clock& clock_;
  Clock::TimePoint next_unejection_ = Clock::TimePoint::max();
  uint64_t ejections_total_ = 0;
  std::function<void(const Host&)> on_eject_;
};

}  // namespace berth::gateway::lb
