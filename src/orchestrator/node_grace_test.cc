#include "orchestrator/node_grace.h"

#include <gtest/gtest.h>

namespace berth::orchestrator {
namespace {

using namespace std::chrono_literals;

Node MakeNode(const std::string& id, NodeStatus status = NodeStatus::kReady) {
  Node n;
  n.id = id;
  n.status = status;
  return n;
}

Instance On(const std::string& node, InstanceState state = InstanceState::kReady) {
  Instance i;
  i.id = "api-" + node;
  i.node_id = node;
  i.state = state;
  return i;
}

class NodeGraceTest : public ::testing::Test {
 protected:
  // One pass at `at` (seconds since the start): the nodes and instances as the scheduler
  // gets them.
  std::pair<std::vector<Node>, std::vector<Instance>> Pass(int at, std::vector<Node> nodes,
                                                           std::vector<Instance> instances) {
    grace_.Apply(Clock::TimePoint(std::chrono::seconds(at)), nodes, instances);
    return {std::move(nodes), std::move(instances)};
  }
  NodeGrace grace_{30s};
};

TEST_F(NodeGraceTest, LeavesReadyNodesAndTheirInstancesAlone) {
  auto [nodes, instances] = Pass(0, {MakeNode("n1")}, {On("n1")});
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].status, NodeStatus::kReady);
  EXPECT_EQ(instances[0].state, InstanceState::kReady);
  EXPECT_FALSE(grace_.Missing("n1"));
}

TEST_F(NodeGraceTest, ADownNodeIsCordonedDuringItsGraceAndDownAfter) {
  auto [during, i1] = Pass(0, {MakeNode("n1", NodeStatus::kDown)}, {On("n1")});
  EXPECT_EQ(during[0].status, NodeStatus::kCordoned);
  EXPECT_EQ(i1[0].state, InstanceState::kUnready);
  EXPECT_TRUE(grace_.Missing("n1"));
  // The grace counts from the first pass that saw it down.
  auto [still, i2] = Pass(29, {MakeNode("n1", NodeStatus::kDown)}, {On("n1")});
  EXPECT_EQ(still[0].status, NodeStatus::kCordoned);
  auto [after, i3] = Pass(30, {MakeNode("n1", NodeStatus::kDown)}, {On("n1")});
  EXPECT_EQ(after[0].status, NodeStatus::kDown);
  EXPECT_EQ(i3[0].state, InstanceState::kUnready);
}

TEST_F(NodeGraceTest, AVanishedNodeWithInstancesGetsACordonedStandInDuringItsGrace) {
  auto [during, i1] = Pass(0, {}, {On("gone")});
  ASSERT_EQ(during.size(), 1u);
  EXPECT_EQ(during[0].id, "gone");
  EXPECT_EQ(during[0].status, NodeStatus::kCordoned);
  EXPECT_EQ(i1[0].state, InstanceState::kUnready);
  auto [after, i2] = Pass(31, {}, {On("gone")});
  EXPECT_TRUE(after.empty());  // lost: the scheduler replaces its instances
  EXPECT_EQ(i2[0].state, InstanceState::kUnready);
}

TEST_F(NodeGraceTest, ANodeThatComesBackStartsAFreshGraceNextTime) {
  Pass(0, {MakeNode("n1", NodeStatus::kDown)}, {On("n1")});
  Pass(20, {MakeNode("n1")}, {On("n1")});
  EXPECT_FALSE(grace_.Missing("n1"));
  auto [again, instances] = Pass(40, {MakeNode("n1", NodeStatus::kDown)}, {On("n1")});
  EXPECT_EQ(again[0].status, NodeStatus::kCordoned);  // 0 s into its new grace, not 40
}

TEST_F(NodeGraceTest, InstancesThatAreNotLiveKeepTheirState) {
  auto [nodes, instances] = Pass(0, {}, {On("gone", InstanceState::kFailed)});
  EXPECT_EQ(instances[0].state, InstanceState::kFailed);
}

}  // namespace
}  // namespace berth::orchestrator
