#include "orchestrator/reconciler.h"

#include <gtest/gtest.h>

#include <map>

#include "core/testing/random.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"
#include "orchestrator/testing/orchestrator_test.h"

namespace berth::orchestrator {
namespace {

using testing::kGi;

// Runs against the real embedded store (sqlite back-end) in a temporary directory.
class ReconcilerTest : public testing::OrchestratorTest {
 protected:
  void SetUp() override {
    OrchestratorTest::SetUp();
    if (HasFatalFailure()) return;
    // Small transactions, so a pass spans several of them.
    reconciler_ = std::make_unique<Reconciler>(*store_, clock_, random_,
                                               ReconcilerOptions{.max_ops_per_txn = 4});
  }
  void TearDown() override {
    reconciler_.reset();
    OrchestratorTest::TearDown();
  }
  PassResult Run() {
    auto r = reconciler_->RunOnce();
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : PassResult{};
  }

  std::unique_ptr<Reconciler> reconciler_;
};

constexpr const char* kShop = R"(name: shop
services:
  api:
    image: shop/api:1
    replicas: 6
    resources: {cpu: 100m, memory: 64Mi}
    update: {maxSurge: 0, maxUnavailable: 1}
)";

TEST_F(ReconcilerTest, WritesAssignmentsSpreadOverNodesAndIsIdempotent) {
  for (int i = 0; i < 3; ++i) PutNode("node-" + std::to_string(i));
  PutApp(kShop);
  PassResult r = Run();
  EXPECT_EQ(r.placed, 6);
  EXPECT_TRUE(r.unplaceable.empty());
  EXPECT_TRUE(r.skipped.empty());
  auto by_node = AssignmentsByNode();
  ASSERT_EQ(by_node.size(), 3u);
  for (const auto& [node, list] : by_node) {
    EXPECT_EQ(list.size(), 2u) << node;
    for (const auto& a : list) {
      EXPECT_EQ(a.instance.node_id, node);
      EXPECT_EQ(a.spec.image, "shop/api:1");
      EXPECT_EQ(a.instance.resources, (Resources{100, 64 << 20, 0}));
    }
  }
  r = Run();
  EXPECT_EQ(r.placed + r.stopped + r.updated, 0);
}

TEST_F(ReconcilerTest, ScaleDownAndDeleteRemoveAssignments) {
  for (int i = 0; i < 3; ++i) PutNode("node-" + std::to_string(i));
  PutApp(kShop);
  Run();
  ReportAll(InstanceState::kReady);
  PutApp(std::string(kShop).replace(std::string(kShop).find("replicas: 6"), 11, "replicas: 2"));
  PassResult r = Run();
  EXPECT_EQ(r.stopped, 4);
  size_t left = 0;
  for (const auto& [node, list] : AssignmentsByNode()) left += list.size();
  EXPECT_EQ(left, 2u);
  ASSERT_TRUE(store_->Delete(AppKey("default", "shop")));
  r = Run();
  EXPECT_EQ(r.stopped, 2);
  EXPECT_TRUE(AssignmentsByNode().empty());
}

TEST_F(ReconcilerTest, InstancesOfADownNodeMoveToLiveNodesAfterTheGracePeriod) {
  for (int i = 0; i < 3; ++i) PutNode("node-" + std::to_string(i));
  PutApp(kShop);
  Run();
  ReportAll(InstanceState::kReady);
  PutNode("node-1", NodeStatus::kDown);
  PassResult r = Run();
  EXPECT_EQ(r.placed + r.stopped, 0);  // within the grace period
  clock_.Advance(std::chrono::seconds(29));
  r = Run();
  EXPECT_EQ(r.placed + r.stopped, 0);
  clock_.Advance(std::chrono::seconds(2));
  r = Run();
  EXPECT_EQ(r.stopped, 2);
  EXPECT_EQ(r.placed, 2);
  auto by_node = AssignmentsByNode();
  EXPECT_EQ(by_node.count("node-1"), 0u);
  EXPECT_EQ(by_node["node-0"].size() + by_node["node-2"].size(), 6u);
}

TEST_F(ReconcilerTest, InstancesOfAVanishedNodeWaitForTheGracePeriod) {
  for (int i = 0; i < 3; ++i) PutNode("node-" + std::to_string(i));
  PutApp(kShop);
  Run();
  ReportAll(InstanceState::kReady);
  ASSERT_TRUE(store_->Delete(NodeKey("node-2")));  // as when its lease lapses
  PassResult r = Run();
  EXPECT_EQ(r.placed + r.stopped, 0);
  EXPECT_EQ(AssignmentsByNode()["node-2"].size(), 2u);
  clock_.Advance(std::chrono::seconds(31));
  r = Run();
  EXPECT_EQ(r.stopped, 2);
  EXPECT_EQ(r.placed, 2);
  auto by_node = AssignmentsByNode();
  EXPECT_EQ(by_node.count("node-2"), 0u);
  EXPECT_EQ(by_node["node-0"].size() + by_node["node-1"].size(), 6u);
}

TEST_F(ReconcilerTest, ANodeBackWithinTheGracePeriodKeepsItsInstances) {
  for (int i = 0; i < 2; ++i) PutNode("node-" + std::to_string(i));
  PutApp(kShop);
  Run();
  ReportAll(InstanceState::kReady);
  PutNode("node-1", NodeStatus::kDown);
  Run();
  clock_.Advance(std::chrono::seconds(20));
  PutNode("node-1");
  Run();
  clock_.Advance(std::chrono::seconds(20));
  PutNode("node-1", NodeStatus::kDown);
  PassResult r = Run();  // a new outage: its own grace period starts now
  EXPECT_EQ(r.placed + r.stopped, 0);
  EXPECT_EQ(AssignmentsByNode()["node-1"].size(), 3u);
}

TEST_F(ReconcilerTest, RollingUpdateStopsAtMostMaxUnavailablePerPass) {
  for (int i = 0; i < 3; ++i) PutNode("node-" + std::to_string(i));
  PutApp(kShop);
  Run();
  ReportAll(InstanceState::kReady);
  std::string v2 = kShop;
  v2.replace(v2.find("shop/api:1"), 10, "shop/api:2");
  PutApp(v2);
  for (int pass = 0; pass < 20; ++pass) {
    PassResult r = Run();
    if (r.placed + r.stopped == 0) break;
    EXPECT_LE(r.stopped, 1) << "pass " << pass;
    ReportAll(InstanceState::kReady);
  }
  size_t v2_count = 0;
  for (const auto& [node, list] : AssignmentsByNode()) {
    for (const auto& a : list) v2_count += a.spec.image == "shop/api:2";
  }
  EXPECT_EQ(v2_count, 6u);
}

TEST_F(ReconcilerTest, ReportsUnplaceableAndSkipsBadValues) {
  PutNode("node-0", NodeStatus::kReady, {4000, 2 * kGi, 1000});
  PutApp("name: big\nservices:\n  db:\n    image: pg:16\n    resources: {memory: 8Gi}\n");
  ASSERT_TRUE(store_->Put("/apps/default/broken", "{"));
  ASSERT_TRUE(store_->Put("/nodes/node-9", "{\"id\": 3}"));
  PassResult r = Run();
  EXPECT_EQ(r.placed, 0);
  ASSERT_EQ(r.unplaceable.size(), 1u);
  EXPECT_EQ(r.unplaceable[0].service, "db");
  EXPECT_EQ(
      r.unplaceable[0].reason.rfind("no node has 8 GiB memory free (largest: 2 GiB on node-0)", 0),
      0u)
      << r.unplaceable[0].reason;
  ASSERT_EQ(r.skipped.size(), 2u);
  EXPECT_EQ(r.skipped[0].rfind("/apps/default/broken: ", 0), 0u);
  EXPECT_EQ(r.skipped[1].rfind("/nodes/node-9: ", 0), 0u);
}

// Issue 15: the first apply of the demo raced the local node's join and logged
// "unplaceable" warnings. While no node has joined at all, replicas wait for one.
TEST_F(ReconcilerTest, BugFirstApplyBeforeAnyNodeJoinedWasReportedUnplaceable) {
  PutApp("name: shop\nservices:\n  api:\n    image: shop/api:1\n    replicas: 2\n");
  PassResult waiting = Run();
  EXPECT_EQ(waiting.placed, 0);
  ASSERT_EQ(waiting.unplaceable.size(), 1u);
  EXPECT_TRUE(waiting.unplaceable[0].waiting_for_nodes);
  EXPECT_EQ(waiting.unplaceable[0].count, 2);
  EXPECT_EQ(waiting.unplaceable[0].reason, "waiting for a node to join the cluster");

  PutNode("node-0");
  PassResult placed = Run();
  EXPECT_EQ(placed.placed, 2);
  EXPECT_TRUE(placed.unplaceable.empty());
}

TEST_F(ReconcilerTest, ReplicasThatFitNoJoinedNodeAreUnplaceableNotWaiting) {
  PutNode("node-0", NodeStatus::kCordoned);
  PutApp("name: shop\nservices:\n  api:\n    image: shop/api:1\n");
  PassResult r = Run();
  ASSERT_EQ(r.unplaceable.size(), 1u);
  EXPECT_FALSE(r.unplaceable[0].waiting_for_nodes);
  EXPECT_NE(r.unplaceable[0].reason, "waiting for a node to join the cluster");
}

TEST_F(ReconcilerTest, APlannedPassWritesNothingUntilCommitted) {
  PutNode("node-0");
  PutApp("name: shop\nservices:\n  api:\n    image: shop/api:1\n    replicas: 3\n");
  auto planned = reconciler_->Plan();
  ASSERT_TRUE(planned) << planned.error().message;
  EXPECT_EQ(planned->result.placed, 3);
  EXPECT_TRUE(AssignmentsByNode().empty());
  ASSERT_TRUE(reconciler_->Commit(*planned));
  EXPECT_EQ(AssignmentsByNode()["node-0"].size(), 3u);
}

TEST_F(ReconcilerTest, ACommitWhoseGuardNoLongerHoldsFailsAsNotLeading) {
  PutNode("node-0");
  PutApp("name: shop\nservices:\n  api:\n    image: shop/api:1\n");
  ASSERT_TRUE(store_->Put("/leader", "me"));
  reconciler_->set_guard(store::Compare{.key = "/leader",
                                        .target = store::Compare::Target::kValue,
                                        .op = store::Compare::Op::kEqual,
                                        .value = "someone else"});
  auto r = reconciler_->RunOnce();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(AssignmentsByNode().empty());
}

TEST(Codec, NodeKeysAndRoundTrips) {
  auto k = ParseNodeKey("/nodes/n1/assignments/default/shop/api-1");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kind, NodeKeyParts::Kind::kAssignment);
  EXPECT_EQ(k->node, "n1");
  EXPECT_EQ(k->instance, "api-1");
  EXPECT_EQ(ParseNodeKey("/nodes/n1")->kind, NodeKeyParts::Kind::kNode);
  EXPECT_FALSE(ParseNodeKey("/nodes/n1/other/a/b/c"));
  EXPECT_FALSE(ParseNodeKey("/nodes//x"));
  EXPECT_FALSE(ParseNodeKey("/apps/x"));

  Node n;
  n.id = "n1";
  n.labels = {{"zone", "a"}};
  n.capacity = {1000, kGi, 10};
  n.status = NodeStatus::kCordoned;
  auto back = NodeFromJson(NodeToJson(n));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, n);
  EXPECT_FALSE(NodeFromJson("{\"id\": \"x\"}"));
  EXPECT_FALSE(NodeFromJson(
      R"({"id":"x","labels":{},"capacity":{"cpuMillis":1,"memoryBytes":1,"pids":1},"status":"on"})"));

  InstanceStatus s{InstanceState::kUnready, 42, "probe failed"};
  auto sb = InstanceStatusFromJson(InstanceStatusToJson(s));
  ASSERT_TRUE(sb);
  EXPECT_EQ(*sb, s);
  EXPECT_FALSE(InstanceStatusFromJson("{\"state\": \"dancing\"}"));
  // CPU use: written only when measured; a report without it (an older agent) reads as -1.
  EXPECT_EQ(InstanceStatusToJson(s).find("cpuMillis"), std::string::npos);
  InstanceStatus busy{InstanceState::kReady, 42, "", 730};
  auto bb = InstanceStatusFromJson(InstanceStatusToJson(busy));
  ASSERT_TRUE(bb) << bb.error().message;
  EXPECT_EQ(bb->cpu_millis, 730);
  EXPECT_FALSE(InstanceStatusFromJson("{\"state\": \"ready\", \"cpuMillis\": -3}"));
  EXPECT_FALSE(InstanceStatusFromJson("{\"state\": \"ready\", \"cpuMillis\": \"lots\"}"));
  EXPECT_FALSE(AssignmentFromJson("{\"instance\": {}}"));
}

}  // namespace
}  // namespace berth::orchestrator
