#include "orchestrator/autoscaler.h"

#include <gtest/gtest.h>

namespace berth::orchestrator {
namespace {

ServiceSpec Spec(int64_t replicas) {
  ServiceSpec s;
  s.name = "api";
  s.image = "api:1";
  s.replicas = replicas;
  s.resources.cpu_millis = 500;
  s.autoscale = Autoscale{
      .min = 2, .max = 10, .target_cpu_percent = 50, .target_rps = 100, .cooldown = Millis(60'000)};
  return s;
}

TEST(Autoscaler, ScalesUpToHoldTheCpuTarget) {
  Autoscaler a;
  // 4 ready at 500m each = 100% of the request, target 50%: twice as many.
  auto d = a.Decide(Spec(4), {.now_ms = 0, .ready = 4, .cpu_millis_per_instance = 500});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->replicas, 8);
  EXPECT_EQ(d->reason, "cpu 100% > target 50%");
}

TEST(Autoscaler, TakesTheLargestOverTargetsAndClampsToMax) {
  Autoscaler a;
  auto d = a.Decide(Spec(4), {.now_ms = 0,
                              .ready = 4,
                              .cpu_millis_per_instance = 250,
                              .requests_per_second = 1200});  // 300 req/s each, target 100
  ASSERT_TRUE(d);
  EXPECT_EQ(d->replicas, 10);  // 12 wanted, max 10
  EXPECT_EQ(d->reason, "300.0 req/s per instance > target 100 req/s");
}

TEST(Autoscaler, KeepsReplicasWithinTolerance) {
  Autoscaler a;
  EXPECT_FALSE(a.Decide(
      Spec(4),
      {.now_ms = 0, .ready = 4, .cpu_millis_per_instance = 270, .requests_per_second = 380}));
}

TEST(Autoscaler, ScalesDownAfterTheCooldownOnly) {
  Autoscaler a;
  ASSERT_TRUE(a.Decide(Spec(4), {.now_ms = 0, .ready = 4, .cpu_millis_per_instance = 500}));
  // Load drops right after: wait for the cool-down.
  LoadSample quiet{.now_ms = 30'000, .ready = 8, .cpu_millis_per_instance = 50};
  EXPECT_FALSE(a.Decide(Spec(8), quiet));
  quiet.now_ms = 60'000;
  auto d = a.Decide(Spec(8), quiet);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->replicas, 2);  // ceil(8 * 0.2) = 2, and min is 2
  EXPECT_EQ(d->reason, "cpu 10% < target 50%");
}

TEST(Autoscaler, ClampsOutOfBoundsAtOnceAndWaitsForReadyInstances) {
  Autoscaler a;
  auto d = a.Decide(Spec(1), {.now_ms = 0, .ready = 0});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->replicas, 2);
  Autoscaler b;
  EXPECT_FALSE(b.Decide(Spec(3), {.now_ms = 0, .ready = 0}));
  ServiceSpec manual = Spec(3);
  manual.autoscale.reset();
  EXPECT_FALSE(b.Decide(manual, {.now_ms = 0, .ready = 3, .cpu_millis_per_instance = 500}));
}

TEST(Autoscaler, LeavesOutATargetWithoutAMeasurement) {
  Autoscaler a;
  // No CPU reports and no gateway: nothing to decide on.
  EXPECT_FALSE(a.Decide(Spec(4), {.now_ms = 0, .ready = 4}));
  // Only the request rate is known: it alone decides.
  auto d = a.Decide(Spec(4), {.now_ms = 0, .ready = 4, .requests_per_second = 100});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->replicas, 2);  // 25 req/s each against 100: ceil(4 * 0.25) = 1, min 2
}

TEST(Autoscaler, DoesNotScaleDownWhileReplicasAreStillStarting) {
  Autoscaler a;
  // 6 replicas, 2 of them ready and carrying all the traffic: 150 req/s each against 100
  // wants ceil(2 * 1.5) = 3 < 6, which would undo the scale-up still in progress.
  EXPECT_FALSE(a.Decide(Spec(6), {.now_ms = 0, .ready = 2, .requests_per_second = 300}));
  // Scaling up further is fine.
  auto d = a.Decide(Spec(6), {.now_ms = 0, .ready = 2, .requests_per_second = 800});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->replicas, 8);
}

TEST(Autoscaler, ExtraReadyInstancesOfASurgeOrCanaryDoNotInflateTheCount) {
  Autoscaler a;
  // 4 replicas + 1 canary ready at 40% against 50%: 4 * 0.8 = 3.2 -> 4, not 5 * 0.8 -> 4 + 1.
  EXPECT_FALSE(a.Decide(Spec(4), {.now_ms = 0, .ready = 5, .cpu_millis_per_instance = 200}));
  auto d = a.Decide(Spec(4), {.now_ms = 0, .ready = 5, .cpu_millis_per_instance = 400});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->replicas, 7);  // ceil(4 * 1.6)
}

TEST(Autoscaler, ACooldownRestoredFromTheStoreHoldsTheNextAction) {
  Autoscaler a;
  a.set_last_action_ms(1'000);
  LoadSample busy{.now_ms = 30'000, .ready = 4, .cpu_millis_per_instance = 500};
  EXPECT_FALSE(a.Decide(Spec(4), busy));
  busy.now_ms = 61'000;
  ASSERT_TRUE(a.Decide(Spec(4), busy));
  EXPECT_EQ(a.last_action_ms(), 61'000);
}

}  // namespace
}  // namespace berth::orchestrator
