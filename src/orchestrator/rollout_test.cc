#include "orchestrator/rollout.h"

#include <gtest/gtest.h>

namespace berth::orchestrator {
namespace {

ServiceSpec Spec(int64_t replicas) {
  ServiceSpec s;
  s.name = "api";
  s.image = "api:2";
  s.replicas = replicas;
  s.update.max_unavailable = {1, false};
  s.update.progress_deadline = Millis(60'000);
  return s;
}

TEST(Rollout, CompletesWhenAllNewInstancesAreAvailable) {
  auto spec = Spec(3);
  Rollout r(1, 2, 0);
  EXPECT_EQ(r.Observe(spec, {.now_ms = 10'000, .new_available = 1, .outdated = 2}),
            RolloutPhase::kProgressing);
  EXPECT_EQ(r.Observe(spec, {.now_ms = 20'000, .new_available = 3, .outdated = 0}),
            RolloutPhase::kComplete);
  EXPECT_FALSE(r.ShouldRollBack(spec));
}

TEST(Rollout, FailsAndRollsBackWithoutProgressPastTheDeadline) {
  auto spec = Spec(4);
  Rollout r(1, 2, 0);
  r.Observe(spec, {.now_ms = 30'000, .new_available = 1, .outdated = 3});
  // Progress at 30s; the deadline counts from there.
  EXPECT_EQ(r.Observe(spec, {.now_ms = 90'000, .new_available = 1, .outdated = 3}),
            RolloutPhase::kProgressing);
  EXPECT_EQ(r.Observe(spec, {.now_ms = 90'001, .new_available = 1, .outdated = 3}),
            RolloutPhase::kFailed);
  EXPECT_EQ(r.reason(), "no progress for 1m: 1 of 4 new instances available, 3 outdated left");
  EXPECT_TRUE(r.ShouldRollBack(spec));
  spec.update.auto_rollback = false;
  EXPECT_FALSE(r.ShouldRollBack(spec));
}

TEST(Rollout, FailsWhenNewInstancesUseUpTheUnavailabilityBudget) {
  auto spec = Spec(10);
  spec.update.max_unavailable = {20, true};  // 2 of 10
  Rollout r(1, 2, 0);
  EXPECT_EQ(r.Observe(spec, {.now_ms = 1'000, .new_failed = 1, .outdated = 10}),
            RolloutPhase::kProgressing);
  EXPECT_EQ(r.Observe(spec, {.now_ms = 2'000, .new_failed = 2, .outdated = 10}),
            RolloutPhase::kFailed);
  EXPECT_EQ(r.reason(), "2 new instances failed (budget 2): 0 of 10 available");
}

TEST(Rollout, PhaseIsFinalOnceDecided) {
  auto spec = Spec(1);
  Rollout r(1, 2, 0);
  ASSERT_EQ(r.Observe(spec, {.now_ms = 1, .new_available = 1, .outdated = 0}),
            RolloutPhase::kComplete);
  EXPECT_EQ(r.Observe(spec, {.now_ms = 999'999, .new_failed = 5, .outdated = 1}),
            RolloutPhase::kComplete);
}

}  // namespace
}  // namespace berth::orchestrator
