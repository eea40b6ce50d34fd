#include "orchestrator/rollout.h"

#include <fmt/core.h>

#include <algorithm>

#include "core/units.h"
#include "orchestrator/spec.h"

namespace berth::orchestrator {

std::string_view ToString(RolloutPhase p) {
  switch (p) {
    case RolloutPhase::kProgressing:
      return "progressing";
    case RolloutPhase::kComplete:
      return "complete";
    case RolloutPhase::kFailed:
      return "failed";
    case RolloutPhase::kPaused:
      return "paused";
  }
  return "unknown";
}

Rollout::Rollout(uint64_t from_hash, uint64_t to_hash, int64_t started_ms)
    : from_hash_(from_hash), to_hash_(to_hash), last_progress_ms_(started_ms) {}

RolloutPhase Rollout::Observe(const ServiceSpec& spec, const RolloutObservation& o) {
  if (phase_ != RolloutPhase::kProgressing) return phase_;
  const int64_t desired = spec.replicas;
  if (o.new_available > best_available_ || o.outdated < least_outdated_) {
    best_available_ = std::max(best_available_, o.new_available);
    least_outdated_ = std::min(least_outdated_, o.outdated);
    last_progress_ms_ = o.now_ms;
  }
  if (o.outdated == 0 && o.new_available >= desired) {
    phase_ = RolloutPhase::kComplete;
    return phase_;
  }
  const int64_t budget = std::max<int64_t>(1, spec.update.Resolve(desired).second);
  if (o.new_failed >= budget) {
    phase_ = RolloutPhase::kFailed;
    reason_ = fmt::format("{} new instance{} failed (budget {}): {} of {} available{}",
                          o.new_failed, o.new_failed == 1 ? "" : "s", budget, o.new_available,
                          desired, o.failure.empty() ? "" : "; " + o.failure);
    return phase_;
  }
  const int64_t deadline = spec.update.progress_deadline.count();
  if (o.now_ms - last_progress_ms_ > deadline) {
    phase_ = RolloutPhase::kFailed;
    reason_ = fmt::format("no progress for {}: {} of {} new instances available, {} outdated left",
                          FormatDuration(Millis(deadline)), o.new_available, desired, o.outdated);
  }
  return phase_;
}

}  // namespace berth::orchestrator
