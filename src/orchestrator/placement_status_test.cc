#include "orchestrator/placement_status.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "orchestrator/testing/orchestrator_test.h"

namespace berth::orchestrator {
namespace {

const store::Compare kNoGuard{.key = "/absent", .number = 0};

class PlacementStatusTest : public testing::OrchestratorTest {
 protected:
  PassResult Pass(std::vector<PassResult::Unplaceable> unplaceable) {
    PassResult pass;
    pass.apps.push_back(Parse("name: shop\nservices:\n  api:\n    image: shop/api:1\n"));
    pass.unplaceable = std::move(unplaceable);
    return pass;
  }
  Json Status() {
    auto j = ParseJson(Get(AppStatusKey("default", "shop")));
    return j ? *j : Json();
  }
  std::vector<std::string> Events() {
    std::vector<std::string> out;
    auto ev = apps_->Events("default", "shop");
    EXPECT_TRUE(ev);
    if (ev) {
      for (const auto& e : *ev) out.push_back(e.type + " " + e.reason + ": " + e.message);
    }
    return out;
  }
  static PassResult::Unplaceable Unschedulable(int64_t count, std::string reason) {
    return {"default", "shop", "api", count, std::move(reason), false};
  }
  static PassResult::Unplaceable Waiting(int64_t count) {
    return {"default", "shop", "api", count, "waiting for a node to join the cluster", true};
  }
};

TEST_F(PlacementStatusTest, RecordsUnschedulableReplicasAndWarnsOncePerReason) {
  PlacementStatus status(*store_, clock_, *apps_);
  status.Write(Pass({Unschedulable(2, "no node has 8 GiB memory free")}), kNoGuard);
  status.Write(Pass({Unschedulable(2, "no node has 8 GiB memory free")}), kNoGuard);
  EXPECT_EQ(
      Status()["services"]["api"],
      Json::parse(R"({"unschedulable":{"count":2,"reason":"no node has 8 GiB memory free"}})"));
  status.Write(Pass({Unschedulable(2, "no node has 4 cpu free")}), kNoGuard);
  EXPECT_EQ(Events(), (std::vector<std::string>{
                          "Warning Unschedulable: 2 replicas cannot be placed: no node has 8 GiB "
                          "memory free",
                          "Warning Unschedulable: 2 replicas cannot be placed: no node has 4 cpu "
                          "free"}));
}

TEST_F(PlacementStatusTest, ReplicasWaitingForANodeAreNotAWarning) {
  PlacementStatus status(*store_, clock_, *apps_);
  status.Write(Pass({Waiting(1)}), kNoGuard);
  EXPECT_EQ(
      Status()["services"]["api"],
      Json::parse(R"({"waiting":{"count":1,"reason":"waiting for a node to join the cluster"}})"));
  EXPECT_EQ(Events(), std::vector<std::string>{
                          "Normal WaitingForNodes: 1 replica pending: waiting for a node to join "
                          "the cluster"});
}

TEST_F(PlacementStatusTest, SaysScheduledOnceEveryReplicaHasANode) {
  PlacementStatus status(*store_, clock_, *apps_);
  status.Write(Pass({Waiting(1)}), kNoGuard);
  status.Write(Pass({}), kNoGuard);
  EXPECT_EQ(Status(), Json::parse(R"({"services":{}})"));
  EXPECT_EQ(Events().back(), "Normal Scheduled: every replica has a node");
  status.Write(Pass({}), kNoGuard);
  EXPECT_EQ(Events().size(), 2u);
}

TEST_F(PlacementStatusTest, ANewLeaderLoadsWhatWasSaidAndDoesNotSayItAgain) {
  PlacementStatus first(*store_, clock_, *apps_);
  first.Write(Pass({Unschedulable(1, "no node matches zone = mars")}), kNoGuard);
  PlacementStatus next(*store_, clock_, *apps_);
  ASSERT_TRUE(next.Load());
  next.Write(Pass({Unschedulable(1, "no node matches zone = mars")}), kNoGuard);
  EXPECT_EQ(Events().size(), 1u);
}

TEST_F(PlacementStatusTest, DeletesTheRecordOfAnAppThatIsGone) {
  PlacementStatus status(*store_, clock_, *apps_);
  status.Write(Pass({}), kNoGuard);
  EXPECT_NE(Get(AppStatusKey("default", "shop")), "");
  status.Write(PassResult{}, kNoGuard);
  EXPECT_EQ(Get(AppStatusKey("default", "shop")), "");
}

}  // namespace
}  // namespace berth::orchestrator
