#include "orchestrator/autoscaler.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

namespace berth::orchestrator {

std::optional<ScaleDecision> Autoscaler::Decide(const ServiceSpec& spec, const LoadSample& sample) {
  if (!spec.autoscale) return std::nullopt;
  const Autoscale& a = *spec.autoscale;
  const int64_t current = spec.replicas;
  auto act = [&](int64_t replicas, std::string reason) -> std::optional<ScaleDecision> {
    last_action_ms_ = sample.now_ms;
    return ScaleDecision{replicas, std::move(reason)};
  };
  // Out of bounds (the bounds changed, or someone scaled by hand): clamp at once.
  if (current < a.min || current > a.max) {
    int64_t clamped = std::clamp(current, a.min, a.max);
    return act(clamped, fmt::format("outside [{}, {}]: {} -> {}", a.min, a.max, current, clamped));
  }
  if (sample.ready <= 0) return std::nullopt;  // nothing to measure yet
  if (last_action_ms_ && sample.now_ms - *last_action_ms_ < a.cooldown.count()) {
    return std::nullopt;
  }
  int64_t desired = -1;
  std::string why;
  auto consider = [&](double ratio, std::string what) {
    if (std::abs(ratio - 1.0) <= kTolerance) {
      desired = std::max(desired, current);
      return;
    }
    auto want = static_cast<int64_t>(std::ceil(static_cast<double>(sample.ready) * ratio));
    if (want > desired) {
      desired = want;
      why = std::move(what);
    }
  };
  if (a.target_cpu_percent > 0 && spec.resources.cpu_millis > 0) {
    double used =
        100.0 * sample.cpu_millis_per_instance / static_cast<double>(spec.resources.cpu_millis);
    consider(used / static_cast<double>(a.target_cpu_percent),
             fmt::format("cpu {:.0f}% of target {}%", used, a.target_cpu_percent));
  }
  if (a.target_rps > 0) {
    double per_instance = sample.requests_per_second / static_cast<double>(sample.ready);
    consider(per_instance / static_cast<double>(a.target_rps),
             fmt::format("{:.1f} req/s per instance, target {}", per_instance, a.target_rps));
  }
  if (desired < 0) return std::nullopt;
  desired = std::clamp(desired, a.min, a.max);
  if (desired == current) return std::nullopt;
  return act(desired, fmt::format("{}: {} -> {}", why, current, desired));
}

}  // namespace berth::orchestrator
