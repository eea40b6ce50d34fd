// Upstream hosts as one worker sees them. A `Host` is an endpoint (address, weight, health
// from the registry) plus the worker's own mutable view of it: active requests, outlier
// ejection state. A `HostSet` is the cluster's hosts with the subset a balancer may pick
// from ("eligible": healthy and not ejected; all hosts when in panic mode).
//
// Envoy's shape, simplified: there, outlier detection runs on the main thread and ejections
// are posted to workers. Here each worker owns its HostSets and detects outliers from its own
// traffic, so the request path takes no lock and shares no cache line (one worker needs
// `consecutive_5xx` failures of its own to eject).
// Thread-safety: none; a HostSet and its Hosts belong to one worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"

namespace berth::gateway::lb {

class Host {
 public:
  Host(std::string address, uint32_t weight) : address_(std::move(address)), weight_(weight) {}

  // "host:port".
  const std::string& address() const { return address_; }
  uint32_t weight() const { return weight_; }
  void set_weight(uint32_t w) { weight_ = w == 0 ? 1 : w; }

  // Active health from the registry (passing instances only).
  bool health_failed() const { return health_failed_; }
  void set_health_failed(bool f) { health_failed_ = f; }

  bool ejected() const { return ejected_; }
  bool eligible() const { return !ejected_ && !health_failed_; }

  // Requests in flight to this host from this worker (least request reads it).
  uint32_t active_requests() const { return active_requests_; }
  void AddActiveRequest() { ++active_requests_; }
  void RemoveActiveRequest() {
    if (active_requests_ > 0) --active_requests_;
  }

 private:
  friend class OutlierDetector;
  std::string address_;
  uint32_t weight_;
  bool health_failed_ = false;
  uint32_t active_requests_ = 0;
  // Outlier state, written by OutlierDetector only.
  bool ejected_ = false;
  uint32_t consecutive_5xx_ = 0;
  uint32_t consecutive_connect_failures_ = 0;
  uint32_t ejection_count_ = 0;
  Clock::TimePoint ejected_until_{};
};

using HostPtr = std::shared_ptr<Host>;

class HostSet {
 public:
  // `panic_threshold_percent`: when fewer than this percentage of hosts are eligible, the
  // balancers pick from all hosts (Envoy's panic mode: better some errors than none served).
  explicit HostSet(std::vector<HostPtr> hosts, double panic_threshold_percent = 50.0);

  const std::vector<HostPtr>& hosts() const { return hosts_; }
  // The hosts a balancer picks from: eligible ones, or all of them in panic mode.
  const std::vector<Host*>& pickable() const { return pickable_; }
  bool in_panic() const { return panic_; }
  // Raised whenever `pickable()` changes; balancers with precomputed tables rebuild on it.
  uint64_t generation() const { return generation_; }

  // Recomputes `pickable()` after a host's eligibility changed.
  void Recompute();

 private:
  std::vector<HostPtr> hosts_;
  double panic_threshold_percent_;
  std::vector<Host*> pickable_;
  bool panic_ = false;
  uint64_t generation_ = 0;
};

}  // namespace berth::gateway::lb
