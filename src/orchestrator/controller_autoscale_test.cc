// The controller's autoscalers fed with fake metrics: agents' CPU reports written as
// instance status (cpuMillis) and gateways' request rates under /load/gateway/, over the
// real embedded store with time driven by hand.
#include <gtest/gtest.h>

#include "core/json.h"
#include "core/testing/random.h"
#include "gateway/load_report.h"
#include "orchestrator/codec.h"
#include "orchestrator/controller.h"
#include "orchestrator/spec.h"
#include "orchestrator/testing/orchestrator_test.h"

namespace berth::orchestrator {
namespace {

using testing::kGi;

class ControllerAutoscaleTest : public testing::OrchestratorTest {
 protected:
  void SetUp() override {
    OrchestratorTest::SetUp();
    if (HasFatalFailure()) return;
    for (int i = 0; i < 3; ++i) PutNode("n" + std::to_string(i), {8000, 16 * kGi, 1000});
  }
  // Advances the clock a second at a time, ticking (the lease stays alive); the scalings.
  std::vector<std::string> Run(Controller& c, int seconds) {
    std::vector<std::string> scaled;
    for (int i = 0; i < seconds; ++i) {
      clock_.Advance(std::chrono::seconds(1));
      TickResult r = Tick(c);
      scaled.insert(scaled.end(), r.scaled.begin(), r.scaled.end());
    }
    return scaled;
  }
  int64_t Replicas() {
    auto a = apps_->Get("default", "web");
    EXPECT_TRUE(a && *a);
    return a && *a ? (*a)->app.services.front().replicas : -1;
  }
  // Every instance of the app reported ready for a minute, using `cpu` millicores (-1: not
  // reported).
  void ReportReady(int64_t cpu) {
    for (const auto& a : Assignments()) {
      InstanceStatus s{InstanceState::kReady, clock_.WallMillis() - 60'000, "", cpu};
      ASSERT_TRUE(store_->Put(StatusKey(a.instance), InstanceStatusToJson(s)));
    }
  }
  // What gateway `id` reports for default/api.
  void GatewayReports(const std::string& id, double rps) {
    OrchestratorTest::GatewayReports(id, {{"default/api", rps}});
  }
  std::vector<std::string> ScaledMessages() {
    std::vector<std::string> out;
    auto ev = apps_->Events("default", "web");
    EXPECT_TRUE(ev);
    if (ev) {
      for (const auto& e : *ev) {
        if (e.reason == "Scaled") out.push_back(e.message);
      }
    }
    return out;
  }
};

std::string Web(int replicas, const std::string& autoscale) {
  return "name: web\nservices:\n  api:\n    image: web/api:1\n    replicas: " +
         std::to_string(replicas) +
         "\n    resources: {cpu: 500m, memory: 64Mi}\n    autoscale: " + autoscale + "\n";
}

TEST_F(ControllerAutoscaleTest, ScalesUpWhenCpuIsAboveTheTargetAndRecordsWhy) {
  Controller& c = NewController("c");
  Apply(Web(2, "{min: 1, max: 6, targetCpu: 50%, cooldown: 60s}"));
  ASSERT_EQ(Tick(c).pass->placed, 2);
  ReportReady(450);  // 90% of the 500m request, against 50%: ceil(2 * 1.8) = 4
  auto scaled = Run(c, 1);
  EXPECT_EQ(scaled, std::vector<std::string>{"default/web/api 2 -> 4"});
  EXPECT_EQ(Replicas(), 4);
  EXPECT_EQ(ScaledMessages(), std::vector<std::string>{"scaled from 2 to 4: cpu 90% > target 50%"});
  // The next pass places the two new replicas.
  EXPECT_EQ(Tick(c).pass->placed, 2);
  auto rec = ParseJson(store_->Get(AutoscaleKey("default", "web", "api"))->kvs.at(0).value);
  ASSERT_TRUE(rec);
  EXPECT_EQ((*rec)["to"], 4);
}

TEST_F(ControllerAutoscaleTest, ScalesDownOnlyAfterTheCooldown) {
  Controller& c = NewController("c");
  Apply(Web(2, "{min: 1, max: 6, targetCpu: 50%, cooldown: 30s}"));
  Tick(c);
  ReportReady(500);  // 100%: 4 replicas
  ASSERT_EQ(Run(c, 1).size(), 1u);
  ASSERT_EQ(Replicas(), 4);
  Tick(c);
  ReportReady(25);  // 5% now: ceil(4 * 0.1) = 1, but not within the cool-down
  EXPECT_TRUE(Run(c, 25).empty());
  EXPECT_EQ(Replicas(), 4);
  auto scaled = Run(c, 10);
  EXPECT_EQ(scaled, std::vector<std::string>{"default/web/api 4 -> 1"});
  EXPECT_EQ(Replicas(), 1);
  EXPECT_EQ(ScaledMessages().back(), "scaled from 4 to 1: cpu 5% < target 50%");
}

TEST_F(ControllerAutoscaleTest, SumsTheRequestRatesOfEveryGateway) {
  Controller& c = NewController("c");
  Apply(Web(2, "{min: 2, max: 10, targetRps: 50, cooldown: 10s}"));
  Tick(c);
  ReportReady(-1);
  GatewayReports("gw-a", 150);
  GatewayReports("gw-b", 150);  // 300 req/s over 2 ready: 150 each against 50 → 6
  EXPECT_EQ(Run(c, 1), std::vector<std::string>{"default/web/api 2 -> 6"});
  EXPECT_EQ(ScaledMessages().back(),
            "scaled from 2 to 6: 150.0 req/s per instance > target 50 req/s");
  // Load stops: the gateways report 0; after the cool-down and with all 6 ready, back to min.
  Tick(c);
  ReportReady(-1);
  GatewayReports("gw-a", 0);
  GatewayReports("gw-b", 0);
  EXPECT_EQ(Run(c, 15), std::vector<std::string>{"default/web/api 6 -> 2"});
}

TEST_F(ControllerAutoscaleTest, WithoutAnyGatewayReportARequestRateTargetHoldsReplicas) {
  Controller& c = NewController("c");
  Apply(Web(4, "{min: 1, max: 10, targetRps: 50, cooldown: 1s}"));
  Tick(c);
  ReportReady(-1);
  EXPECT_TRUE(Run(c, 5).empty());  // not measured is not zero
  EXPECT_EQ(Replicas(), 4);
  GatewayReports("gw-a", 0);  // a gateway that saw no request for it: zero
  EXPECT_EQ(Run(c, 2), std::vector<std::string>{"default/web/api 4 -> 1"});
}

TEST_F(ControllerAutoscaleTest, ClampsReplicasIntoTheBoundsAtOnce) {
  Controller& c = NewController("c");
  Apply(Web(9, "{min: 2, max: 5, targetCpu: 50%, cooldown: 10m}"));
  TickResult r = Tick(c);  // nothing ready yet: the bounds apply anyway
  EXPECT_EQ(r.scaled, std::vector<std::string>{"default/web/api 9 -> 5"});
  EXPECT_EQ(Replicas(), 5);
  EXPECT_EQ(ScaledMessages().back(), "scaled from 9 to 5: outside autoscale bounds [2, 5]");
  // By hand below min, within the cool-down of that action: clamped back up at once.
  Tick(c);
  ASSERT_TRUE(apps_->Scale("default", "web", "api", 1));
  EXPECT_EQ(Run(c, 1), std::vector<std::string>{"default/web/api 1 -> 2"});
}

TEST_F(ControllerAutoscaleTest, DoesNotFlapAroundTheTarget) {
  Controller& c = NewController("c");
  Apply(Web(4, "{min: 1, max: 10, targetCpu: 50%, cooldown: 5s}"));
  Tick(c);
  // CPU wanders within the 10% tolerance of the target (45%..55%): no action at all.
  for (int64_t cpu : {230, 270, 240, 260, 250, 228, 272, 245}) {
    ReportReady(cpu);
    EXPECT_TRUE(Run(c, 10).empty()) << cpu;
  }
  EXPECT_EQ(Replicas(), 4);
  EXPECT_TRUE(ScaledMessages().empty());
}

TEST_F(ControllerAutoscaleTest, DoesNotScaleDownWhileNewReplicasAreStarting) {
  Controller& c = NewController("c");
  Apply(Web(2, "{min: 1, max: 10, targetCpu: 50%, cooldown: 1s}"));
  Tick(c);
  ReportReady(500);
  ASSERT_EQ(Run(c, 1), std::vector<std::string>{"default/web/api 2 -> 4"});
  Tick(c);  // places 2 more; they are pending, the first 2 still report 100%
  // 2 ready at 100% against 50%: ceil(2 * 2) = 4 = replicas, hold. At 60% it would be
  // ceil(2 * 1.2) = 3 < 4: still hold, the new replicas carry no measured load yet.
  auto r = store_->Get(kNodesPrefix, {.prefix = true});
  int reported = 0;
  for (const auto& kv : r->kvs) {  // the first two: the ones with a status report
    auto parts = ParseNodeKey(kv.key);
    if (!parts || parts->kind != NodeKeyParts::Kind::kStatus) continue;
    InstanceStatus s{InstanceState::kReady, clock_.WallMillis(), "", 300};
    ASSERT_TRUE(store_->Put(kv.key, InstanceStatusToJson(s)));
    ++reported;
  }
  ASSERT_EQ(reported, 2);
  EXPECT_TRUE(Run(c, 10).empty());
  EXPECT_EQ(Replicas(), 4);
}

TEST_F(ControllerAutoscaleTest, ANewLeaderKeepsTheCooldownOfTheLastAction) {
  Controller& a = NewController("a");
  Controller& b = NewController("b");
  Apply(Web(2, "{min: 1, max: 10, targetCpu: 50%, cooldown: 60s}"));
  ASSERT_TRUE(Tick(a).leading);
  ReportReady(500);
  ASSERT_EQ(Run(a, 1).size(), 1u);
  Tick(a);
  ReportReady(500);  // 100%: would double again
  a.Stop();
  ASSERT_TRUE(Tick(b).leading);
  EXPECT_TRUE(Run(b, 30).empty());  // 31 s after the action
  EXPECT_EQ(Replicas(), 4);
  EXPECT_EQ(Run(b, 35), std::vector<std::string>{"default/web/api 4 -> 8"});
}

TEST_F(ControllerAutoscaleTest, AFollowerDoesNotScale) {
  Controller& a = NewController("a");
  Controller& b = NewController("b");
  Apply(Web(2, "{min: 1, max: 10, targetCpu: 50%, cooldown: 1s}"));
  ASSERT_TRUE(Tick(a).leading);
  ReportReady(500);
  TickResult r = Tick(b);
  EXPECT_FALSE(r.leading);
  EXPECT_TRUE(r.scaled.empty());
  EXPECT_EQ(Replicas(), 2);
}

}  // namespace
}  // namespace berth::orchestrator
