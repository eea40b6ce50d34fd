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
    return act(clamped, fmt::format("outside autoscale bounds [{}, {}]", a.min, a.max));
  }
  if (sample.ready <= 0) return std::nullopt;  // nothing to measure yet
  if (last_action_ms_ && sample.now_ms - *last_action_ms_ < a.cooldown.count()) {
    return std::nullopt;
  }
  // Per-instance averages times the replicas they stand for: the ready ones while some are
  // still starting, `replicas` when a surge or a canary runs more than that.
  const double base = static_cast<double>(std::min(sample.ready, current));
  int64_t desired = -1;
  std::string why;
  auto consider = [&](double observed, double target, std::string_view unit, std::string what) {
    double ratio = observed / target;
    if (std::abs(ratio - 1.0) <= kTolerance) {
      desired = std::max(desired, current);
      return;
    }
    auto want = static_cast<int64_t>(std::ceil(base * ratio));
    if (want > desired) {
      desired = want;
      why = fmt::format("{} {} target {}{}", what, ratio > 1 ? ">" : "<", target, unit);
    }
  };
  if (a.target_cpu_percent > 0 && spec.resources.cpu_millis > 0 && sample.cpu_millis_per_instance) {
    double used =
        100.0 * *sample.cpu_millis_per_instance / static_cast<double>(spec.resources.cpu_millis);
    consider(used, static_cast<double>(a.target_cpu_percent), "%",
             fmt::format("cpu {:.0f}%", used));
  }
  if (a.target_rps > 0 && sample.requests_per_second) {
    double per_instance = *sample.requests_per_second / static_cast<double>(sample.ready);
    consider(per_instance, static_cast<double>(a.target_rps), " req/s",
             fmt::format("{:.1f} req/s per instance", per_instance));
  }
  if (desired < 0) return std::nullopt;
  desired = std::clamp(desired, a.min, a.max);
  if (desired == current) return std::nullopt;
  // Replicas that are not ready yet carry no measured load: scale down only once they are.
  if (desired < current && sample.ready < current) return std::nullopt;
  return act(desired, why);
}

}  // namespace berth::orchestrator
