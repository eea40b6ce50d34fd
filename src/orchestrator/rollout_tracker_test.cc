#include "orchestrator/rollout_tracker.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "orchestrator/testing/orchestrator_test.h"

namespace berth::orchestrator {
namespace {

const store::Compare kNoGuard{.key = "/absent", .number = 0};

constexpr const char* kWeb = R"(name: web
services:
  front:
    image: web/front:1
    replicas: 2
    update: {maxSurge: 1, maxUnavailable: 0, progressDeadline: 30s}
)";

std::string V2(std::string spec) {
  spec.replace(spec.find("web/front:1"), 11, "web/front:2");
  return spec;
}

class RolloutTrackerTest : public testing::OrchestratorTest {
 protected:
  // A pass over the stored app with `instances`.
  PassResult Pass(std::vector<Instance> instances) {
    auto stored = apps_->Get("default", "web");
    EXPECT_TRUE(stored && *stored);
    PassResult pass;
    if (stored && *stored) pass.apps.push_back((*stored)->app);
    pass.instances = std::move(instances);
    return pass;
  }
  uint64_t Hash() {
    auto stored = apps_->Get("default", "web");
    return (*stored)->app.services[0].DeployHash();
  }
  Instance Inst(const std::string& id, uint64_t hash, InstanceState state, int32_t restarts = 0) {
    Instance i;
    i.id = id;
    i.ns = "default";
    i.app = "web";
    i.service = "front";
    i.node_id = "n1";
    i.deploy_hash = hash;
    i.state = state;
    i.ready_since_ms = clock_.WallMillis();
    i.restarts = restarts;
    return i;
  }
  Json Record() {
    auto j = ParseJson(Get(RolloutKey("default", "web", "front")));
    return j ? *j : Json();
  }
  std::string Image() { return (*apps_->Get("default", "web"))->app.services[0].image; }
};

TEST_F(RolloutTrackerTest, FollowsAFirstDeployToCompletionAndRecordsIt) {
  Apply(kWeb);
  RolloutTracker tracker(*store_, clock_, *apps_, 3);
  const uint64_t v1 = Hash();
  tracker.Track(Pass({}), kNoGuard);
  EXPECT_EQ(Record()["phase"], "progressing");
  EXPECT_EQ(Record()["from"], "0000000000000000");
  tracker.Track(Pass({Inst("a", v1, InstanceState::kReady), Inst("b", v1, InstanceState::kReady)}),
                kNoGuard);
  EXPECT_EQ(Record()["phase"], "complete");
  EXPECT_EQ(Record()["new_available"], 2);
  EXPECT_EQ(tracker.Complete(), std::set<std::string>{"default/web/front"});
  auto reasons = EventReasons("web");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "RolloutStarted"), 1);
  EXPECT_EQ(reasons.back(), "RolloutComplete");
}

TEST_F(RolloutTrackerTest, RollsAFailedRolloutBackToThePreviousVersion) {
  Apply(kWeb);
  const uint64_t v1 = Hash();
  RolloutTracker tracker(*store_, clock_, *apps_, 3);
  const Instance a = Inst("a", v1, InstanceState::kReady), b = Inst("b", v1, InstanceState::kReady);
  tracker.Track(Pass({a, b}), kNoGuard);
  Apply(V2(kWeb));
  const uint64_t v2 = Hash();
  auto rolled = tracker.Track(Pass({a, b, Inst("c", v2, InstanceState::kFailed)}), kNoGuard);
  EXPECT_EQ(rolled, std::vector<std::string>{"default/web/front"});
  EXPECT_EQ(Image(), "web/front:1");
  EXPECT_EQ(Record()["phase"], "failed");
  EXPECT_EQ(Record()["rolled_back"], true);
  // The rollback is a rollout too, and never rolled back itself.
  tracker.Track(Pass({a, b}), kNoGuard);
  EXPECT_EQ(Record()["is_rollback"], true);
}

TEST_F(RolloutTrackerTest, CountsOnlyRestartsSinceTheRolloutBeganTowardsACrashLoop) {
  Apply(kWeb);
  const uint64_t v1 = Hash();
  RolloutTracker tracker(*store_, clock_, *apps_, 3);
  // Instances of the version that already restarted 5 times when its rollout began.
  tracker.Track(Pass({Inst("a", v1, InstanceState::kReady, 5)}), kNoGuard);
  tracker.Track(Pass({Inst("a", v1, InstanceState::kStarting, 7)}), kNoGuard);
  EXPECT_EQ(Record()["new_failed"], 0);
  tracker.Track(Pass({Inst("a", v1, InstanceState::kStarting, 8)}), kNoGuard);
  EXPECT_EQ(Record()["new_failed"], 1);
  EXPECT_EQ(Record()["phase"], "failed");
  EXPECT_NE(Record()["reason"].get<std::string>().find("a on n1 restarted 3 times (crash loop)"),
            std::string::npos)
      << Record().dump();
}

TEST_F(RolloutTrackerTest, FailsARolloutWithoutProgressPastItsDeadline) {
  Apply(kWeb);
  RolloutTracker tracker(*store_, clock_, *apps_, 3);
  tracker.Track(Pass({}), kNoGuard);
  clock_.Advance(std::chrono::seconds(31));
  tracker.Track(Pass({}), kNoGuard);
  EXPECT_EQ(Record()["phase"], "failed");
  EXPECT_EQ(Image(), "web/front:1");  // a first deploy has nothing to roll back to
}

TEST_F(RolloutTrackerTest, ANewLeaderGivesAProgressingRolloutAFreshDeadline) {
  Apply(kWeb);
  RolloutTracker first(*store_, clock_, *apps_, 3);
  first.Track(Pass({}), kNoGuard);
  clock_.Advance(std::chrono::seconds(25));
  RolloutTracker next(*store_, clock_, *apps_, 3);
  ASSERT_TRUE(next.Load());
  next.Track(Pass({}), kNoGuard);
  clock_.Advance(std::chrono::seconds(25));  // 50 s since the start, 25 s since the load
  next.Track(Pass({}), kNoGuard);
  EXPECT_EQ(Record()["phase"], "progressing");
  clock_.Advance(std::chrono::seconds(6));
  next.Track(Pass({}), kNoGuard);
  EXPECT_EQ(Record()["phase"], "failed");
}

TEST_F(RolloutTrackerTest, ForgetsTheRecordOfAServiceThatIsGone) {
  Apply(kWeb);
  RolloutTracker tracker(*store_, clock_, *apps_, 3);
  tracker.Track(Pass({}), kNoGuard);
  EXPECT_NE(Get(RolloutKey("default", "web", "front")), "");
  tracker.Track(PassResult{}, kNoGuard);
  EXPECT_EQ(Get(RolloutKey("default", "web", "front")), "");
}

}  // namespace
}  // namespace berth::orchestrator
