// Rollout: follows one service's move from one deploy hash to the next and decides when it
// is complete and when it has failed, after Kubernetes' Progressing condition plus the
// automatic rollback Kubernetes users have long asked for:
// - progress is any rise in available new instances or fall in outdated ones; a rollout
//   without progress for `progressDeadline` fails;
// - a rollout whose failed new instances reach the unavailability budget
//   (max(1, resolved maxUnavailable)) fails: the new version does not start or pass probes;
// - it completes when no outdated instance is left and `replicas` new ones are available.
// A failed rollout with `autoRollback` asks to roll back; the reconciler then writes the
// previous spec back (history lives in the store). Pure logic fed with observations, so
// tests drive time by hand.
// Thread-safety: not thread-safe; one Rollout per service, owned by the reconciler.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "orchestrator/types.h"

namespace berth::orchestrator {

// kPaused: a canary's instances are available and wait for promotion (canary.h); the
// controller sets it, a Rollout never returns it.
enum class RolloutPhase { kProgressing, kComplete, kFailed, kPaused };
std::string_view ToString(RolloutPhase p);

// What the reconciler sees at one pass.
struct RolloutObservation {
  int64_t now_ms = 0;
  int64_t new_available = 0;  // new-spec instances available (ready >= minReadySeconds)
  int64_t new_failed = 0;     // new-spec instances that failed (crash loop, probes, image)
  int64_t outdated = 0;       // live instances still to be replaced
  std::string failure;        // one failed instance and why, for the reason ("" : none)
};

class Rollout {
 public:
  Rollout(uint64_t from_hash, uint64_t to_hash, int64_t started_ms);

  // Feeds one observation for a service that wants `spec.replicas`; returns the phase.
  // Once complete or failed, the phase no longer changes.
  RolloutPhase Observe(const ServiceSpec& spec, const RolloutObservation& o);

  RolloutPhase phase() const { return phase_; }
  // Why it failed ("no progress for 10m: 2 of 6 new instances available, 4 outdated left").
  const std::string& reason() const { return reason_; }
  bool ShouldRollBack(const ServiceSpec& spec) const {
    return phase_ == RolloutPhase::kFailed && spec.update.auto_rollback;
  }
  uint64_t from_hash() const { return from_hash_; }
  uint64_t to_hash() const { return to_hash_; }

 private:
  uint64_t from_hash_;
  uint64_t to_hash_;
  int64_t last_progress_ms_;
  int64_t best_available_ = 0;
  int64_t least_outdated_ = INT64_MAX;
  RolloutPhase phase_ = RolloutPhase::kProgressing;
  std::string reason_;
};

}  // namespace berth::orchestrator
