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
  EXPECT_EQ(d->reason, "cpu 100% of target 50%: 4 -> 8");
}

TEST(Autoscaler, TakesTheLargestOverTargetsAndClampsToMax) {
  Autoscaler a;
  auto d = a.Decide(Spec(4), {.now_ms = 0,
                              .ready = 4,
                              .cpu_millis_per_instance = 250,
                              .requests_per_second = 1200});  // 300 req/s each, target 100
  ASSERT_TRUE(d);
  EXPECT_EQ(d->replicas, 10);  // 12 wanted, max 10
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

}  // namespace
}  // namespace berth::orchestrator
