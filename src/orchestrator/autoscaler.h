// Autoscaler: decides a service's replica count from its load, after Kubernetes' HPA
// formula — desired = ceil(n * observed / target) with observed the average per ready
// instance and n = min(ready, replicas), the largest over the targets (CPU
// as a percentage of the requested cpu, requests per second per instance), no change
// within a 10% tolerance, clamped to [min, max] — with a cool-down after each action.
// The Controller feeds it (agents' cgroup CPU in their status reports, the gateways'
// request rates under /load/gateway/) and writes a new `replicas` into the app when the
// decision differs, as `berth scale` does by hand. Pure logic; time comes in the samples.
// No flapping: one action per cool-down; no scale-down while some replicas are not ready
// yet (their load is not measured); a target without a measurement is left out.
// Thread-safety: not thread-safe; one Autoscaler per service.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "orchestrator/types.h"

namespace berth::orchestrator {

struct LoadSample {
  int64_t now_ms = 0;
  int64_t ready = 0;  // ready instances: the averages come from them
  // Average CPU use per ready instance (millicores); nullopt: not measured.
  std::optional<double> cpu_millis_per_instance;
  // Requests per second over the service (all gateways); nullopt: no gateway reports.
  std::optional<double> requests_per_second;
};

struct ScaleDecision {
  int64_t replicas = 0;
  std::string reason;  // "cpu 140% > target 70%", "rps 12.0 per instance < target 50"
};

class Autoscaler {
 public:
  static constexpr double kTolerance = 0.1;

  // A new replica count for `spec` (which must have `autoscale`), or nullopt to keep it.
  std::optional<ScaleDecision> Decide(const ServiceSpec& spec, const LoadSample& sample);

  // The time of the last scaling action (a new leader restores it from the store).
  std::optional<int64_t> last_action_ms() const { return last_action_ms_; }
  void set_last_action_ms(int64_t ms) { last_action_ms_ = ms; }

 private:
  std::optional<int64_t> last_action_ms_;
};

}  // namespace berth::orchestrator
