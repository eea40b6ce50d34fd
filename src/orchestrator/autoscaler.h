// Autoscaler: decides a service's replica count from its load, after Kubernetes' HPA
// formula — desired = ceil(ready * observed / target), the largest over the targets (CPU
// as a percentage of the requested cpu, requests per second per instance), no change
// within a 10% tolerance, clamped to [min, max] — with a cool-down after each action.
// The reconciler feeds it averaged samples (cgroup stats from agents, gateway metrics)
// and writes a new `replicas` into the app when the decision differs (`berth scale` does
// the same by hand). Pure logic; time comes in the samples.
// Thread-safety: not thread-safe; one Autoscaler per service.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "orchestrator/types.h"

namespace berth::orchestrator {

struct LoadSample {
  int64_t now_ms = 0;
  int64_t ready = 0;                   // instances the averages come from
  double cpu_millis_per_instance = 0;  // average use
  double requests_per_second = 0;      // total over the service
};

struct ScaleDecision {
  int64_t replicas = 0;
  std::string reason;  // "cpu 140% of target 70%: 4 -> 8"
};

class Autoscaler {
 public:
  static constexpr double kTolerance = 0.1;

  // A new replica count for `spec` (which must have `autoscale`), or nullopt to keep it.
  std::optional<ScaleDecision> Decide(const ServiceSpec& spec, const LoadSample& sample);

 private:
  std::optional<int64_t> last_action_ms_;
};

}  // namespace berth::orchestrator
