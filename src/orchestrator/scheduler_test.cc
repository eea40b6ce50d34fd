#include "orchestrator/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/testing/random.h"
#include "orchestrator/reconcile.h"

namespace berth::orchestrator {
namespace {

constexpr int64_t kGi = 1LL << 30;

Node MakeNode(std::string id, std::map<std::string, std::string> labels = {},
              Resources capacity = {4000, 8 * kGi, 1000}) {
  Node n;
  n.id = std::move(id);
  n.labels = std::move(labels);
  n.capacity = capacity;
  return n;
}

ServiceSpec Service(std::string name, int64_t replicas, Resources r = {100, 64 << 20, 10}) {
  ServiceSpec s;
  s.name = std::move(name);
  s.image = "img:1";
  s.replicas = replicas;
  s.resources = r;
  return s;
}

App MakeApp(std::vector<ServiceSpec> services) {
  App a;
  a.name = "shop";
  a.services = std::move(services);
  return a;
}

std::map<std::string, int> CountPerNode(const Plan& plan, const NodeTable& nodes) {
  std::map<std::string, int> out;
  for (const auto& p : plan.placements) ++out[nodes.id(p.node)];
  return out;
}

// Applies a plan to the actual state: stopped instances leave, placed ones arrive pending.
std::vector<Instance> Apply(const std::vector<Instance>& before, const Plan& plan,
                            const NodeTable& nodes) {
  std::set<const Instance*> stopped;
  for (const auto& s : plan.stops) stopped.insert(s.instance);
  std::vector<Instance> after;
  for (const auto& i : before) {
    if (!stopped.count(&i)) after.push_back(i);
  }
  for (const auto& p : plan.placements) after.push_back(plan.MakeInstance(p, nodes));
  return after;
}

void MakeReady(std::vector<Instance>& instances) {
  for (auto& i : instances) {
    if (i.state == InstanceState::kPending) i.state = InstanceState::kReady;
  }
}

// Where one service's replicas land on empty nodes of the same size: how many per node
// (sorted) and how many are left unplaced.
struct DistributionCase {
  const char* name;
  int nodes;
  ServiceSpec service;
  std::vector<int> per_node;  // replicas on each node that got any, sorted
  int64_t unplaced = 0;
};

ServiceSpec With(ServiceSpec s, PlacementStrategy strategy, AntiAffinity anti) {
  s.placement.strategy = strategy;
  s.placement.anti_affinity = anti;
  return s;
}

TEST(Scheduler, DistributesReplicasByStrategyAndAntiAffinity) {
  using enum PlacementStrategy;
  using enum AntiAffinity;
  const DistributionCase cases[] = {
      {"spread evenly", 4, Service("api", 12), {3, 3, 3, 3}},
      {"spread without anti-affinity still balances load",
       4,
       With(Service("api", 8, {500, kGi, 10}), kSpread, kNone),
       {2, 2, 2, 2}},
      {"binpack fills one node before the next (4 fit)",
       4,
       With(Service("batch", 6, {1000, kGi, 10}), kBinpack, kNone),
       {2, 4}},
      {"preferred anti-affinity beats binpack for small services",
       3,
       With(Service("api", 3), kBinpack, kPreferred),
       {1, 1, 1}},
      {"required anti-affinity puts at most one replica per node",
       3,
       With(Service("api", 5), kBinpack, kRequired),
       {1, 1, 1},
       2},
  };
  uint64_t seed = 1;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    NodeTable nodes;
    for (int i = 0; i < c.nodes; ++i) nodes.Upsert(MakeNode("node-" + std::to_string(i)));
    SeededRandom random(seed++);
    Scheduler scheduler(nodes, random);
    std::vector<App> apps{MakeApp({c.service})};
    Plan plan = scheduler.Schedule(apps, {}, 0);
    std::vector<int> per_node;
    for (const auto& [node, count] : CountPerNode(plan, nodes)) per_node.push_back(count);
    std::sort(per_node.begin(), per_node.end());
    EXPECT_EQ(per_node, c.per_node);
    int64_t unplaced = 0;
    for (const auto& f : plan.failures) unplaced += f.count;
    EXPECT_EQ(unplaced, c.unplaced);
  }
}

// A service in a canary (canary.h) is two halves: the stable spec at `replicas` over the
// instances of other versions, the new spec at `update.canary` over its own.
TEST(Scheduler, CanaryServiceIsReconciledAsStableAndCanaryHalves) {
  NodeTable nodes;
  for (int i = 0; i < 3; ++i) nodes.Upsert(MakeNode("node-" + std::to_string(i)));
  SeededRandom random(3);
  Scheduler scheduler(nodes, random);
  ServiceSpec v1 = Service("api", 3);
  v1.update.canary = 1;
  ServiceSpec v0 = v1, v2 = v1;
  v0.image = "img:0";
  v2.image = "img:2";
  std::vector<App> apps{MakeApp({v1})};
  std::vector<Instance> actual = Apply({}, scheduler.Schedule(apps, {}, 0), nodes);
  ASSERT_EQ(actual.size(), 3u);
  for (auto& i : actual) i.spec_hash = 42;  // assigned with another spec of the same version
  Instance old = actual[0];                 // and one instance of an older version
  old.id = "api-old";
  old.deploy_hash = v0.DeployHash();
  actual.push_back(old);
  MakeReady(actual);

  apps = {MakeApp({v2})};
  CanaryMap canaries;
  canaries["default/shop/api"] = CanaryRecord{.state = CanaryState::kCanary,
                                              .stable_hash = v1.DeployHash(),
                                              .canary_hash = v2.DeployHash(),
                                              .stable = v1};
  Plan plan = scheduler.Schedule(apps, actual, 0, &canaries);
  ASSERT_EQ(plan.placements.size(), 1u);
  EXPECT_EQ(plan.MakeInstance(plan.placements[0], nodes).deploy_hash, v2.DeployHash());
  ASSERT_EQ(plan.stops.size(), 1u);
  EXPECT_EQ(plan.stops[0].instance->id, "api-old");  // the stable half's outdated one
  EXPECT_TRUE(plan.updates.empty()) << "stable instances are never rewritten in place";
  actual = Apply(actual, plan, nodes);
  MakeReady(actual);

  // Steady: nothing to do. A lost stable instance comes back as the stable version.
  EXPECT_TRUE(scheduler.Schedule(apps, actual, 0, &canaries).placements.empty());
  auto lost = std::find_if(actual.begin(), actual.end(),
                           [&](const Instance& i) { return i.deploy_hash == v1.DeployHash(); });
  ASSERT_NE(lost, actual.end());
  actual.erase(lost);
  plan = scheduler.Schedule(apps, actual, 0, &canaries);
  ASSERT_EQ(plan.placements.size(), 1u);
  EXPECT_EQ(plan.MakeInstance(plan.placements[0], nodes).deploy_hash, v1.DeployHash());

  // Promoted: an ordinary rolling update of the rest (one surge instance of v2).
  canaries["default/shop/api"].state = CanaryState::kPromoted;
  actual = Apply(actual, plan, nodes);
  MakeReady(actual);
  plan = scheduler.Schedule(apps, actual, 0, &canaries);
  ASSERT_EQ(plan.stops.size() + plan.placements.size(), 1u);
}

TEST(Scheduler, ConstraintsAreRespected) {
  NodeTable nodes;
  for (int i = 0; i < 30; ++i) {
    std::map<std::string, std::string> labels{
        {"zone", i % 3 == 0 ? "a" : (i % 3 == 1 ? "b" : "c")}};
    if (i % 2 == 0) labels["ssd"] = "true";
    nodes.Upsert(MakeNode("node-" + std::to_string(i), labels));
  }
  SeededRandom random(4);
  Scheduler scheduler(nodes, random);
  auto in_ab = Service("web", 20);
  in_ab.placement.constraints = {{"zone", Constraint::Op::kIn, {"a", "b"}},
                                 {"ssd", Constraint::Op::kExists, {}}};
  auto not_a = Service("db", 20);
  not_a.placement.constraints = {{"zone", Constraint::Op::kNotEqual, {"a"}},
                                 {"ssd", Constraint::Op::kNotExists, {}}};
  std::vector<App> apps{MakeApp({in_ab, not_a})};
  Plan plan = scheduler.Schedule(apps, {}, 0);
  ASSERT_EQ(plan.placements.size(), 40u);
  for (const auto& p : plan.placements) {
    int i = std::stoi(nodes.id(p.node).substr(5));
    if (plan.services[p.service].spec->name == "web") {
      EXPECT_TRUE(i % 3 != 2 && i % 2 == 0) << nodes.id(p.node);
    } else {
      EXPECT_TRUE(i % 3 != 0 && i % 2 == 1) << nodes.id(p.node);
    }
  }
}

TEST(Scheduler, SkipsNodesThatAreNotReady) {
  NodeTable nodes;
  auto down = MakeNode("down");
  down.status = NodeStatus::kDown;
  auto cordoned = MakeNode("cordoned");
  cordoned.status = NodeStatus::kCordoned;
  nodes.Upsert(down);
  nodes.Upsert(cordoned);
  nodes.Upsert(MakeNode("ready"));
  SeededRandom random(5);
  Scheduler scheduler(nodes, random);
  std::vector<App> apps{MakeApp({Service("api", 3)})};
  Plan plan = scheduler.Schedule(apps, {}, 0);
  ASSERT_EQ(plan.placements.size(), 3u);
  for (const auto& p : plan.placements) EXPECT_EQ(nodes.id(p.node), "ready");
}

// Why replicas cannot be placed: the reason names what is missing, on which nodes.
struct UnplaceableCase {
  const char* name;
  std::vector<Node> nodes;
  ServiceSpec service;
  int64_t unplaced;
  std::string reason;  // the whole reason, or its start when `prefix`
  bool prefix = false;
};

Node Down(Node n) {
  n.status = NodeStatus::kDown;
  return n;
}

ServiceSpec Constrained(ServiceSpec s, std::vector<Constraint> constraints) {
  s.placement.constraints = std::move(constraints);
  return s;
}

ServiceSpec WithPort(ServiceSpec s, PortSpec port) {
  s.ports = {port};
  return s;
}

TEST(Scheduler, UnplaceableReplicasAreExplained) {
  const UnplaceableCase cases[] = {
      {"memory: the largest offer and who lacks it",
       {MakeNode("node-1", {}, {4000, 1 * kGi, 100}), MakeNode("node-2", {}, {4000, 1 * kGi, 100}),
        MakeNode("node-3", {}, {4000, 2 * kGi, 100})},
       Service("big", 4, {100, 8 * kGi, 1}),
       4,
       "no node has 8 GiB memory free (largest: 2 GiB on node-3) (3 nodes: 3 lack memory)"},
      {"cpu, beside a node that is not ready",
       {MakeNode("node-1", {{"zone", "a"}}, {2000, 8 * kGi, 100}),
        Down(MakeNode("node-2", {{"zone", "mars"}}))},
       Service("cpu", 1, {3000, 0, 0}),
       1,
       "no node has 3 cpu free (largest: 2 cpu on node-1) (2 nodes: 1 not ready, 1 lack cpu)"},
      {"a constraint only a node that is not ready matches",
       {MakeNode("node-1", {{"zone", "a"}}, {2000, 8 * kGi, 100}),
        Down(MakeNode("node-2", {{"zone", "mars"}}))},
       Constrained(Service("zone", 1), {{"zone", Constraint::Op::kEqual, {"mars"}}}),
       1,
       "no ready node matches zone = mars (2 nodes: 1 not ready, 1 fail constraints)"},
      {"a host port: the second replica finds it taken",
       {MakeNode("node-1", {{"zone", "a"}}, {2000, 8 * kGi, 100}),
        Down(MakeNode("node-2", {{"zone", "mars"}}))},
       WithPort(Service("port", 2), {"http", 80, 8080, Protocol::kTcp}),
       1,
       "host port 8080 is in use on every matching node",
       true},
      {"required anti-affinity",
       {MakeNode("node-0"), MakeNode("node-1")},
       With(Service("api", 3), PlacementStrategy::kSpread, AntiAffinity::kRequired),
       1,
       "anti-affinity is required",
       true},
      {"no nodes at all", {}, Service("api", 1), 1, "no nodes have joined the cluster"},
  };
  uint64_t seed = 8;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    NodeTable nodes;
    for (const auto& n : c.nodes) nodes.Upsert(n);
    SeededRandom random(seed++);
    Scheduler scheduler(nodes, random);
    std::vector<App> apps{MakeApp({c.service})};
    Plan plan = scheduler.Schedule(apps, {}, 0);
    EXPECT_EQ(static_cast<int64_t>(plan.placements.size()), c.service.replicas - c.unplaced);
    ASSERT_EQ(plan.failures.size(), 1u);
    EXPECT_EQ(plan.failures[0].count, c.unplaced);
    if (c.prefix) {
      EXPECT_EQ(plan.failures[0].reason.rfind(c.reason, 0), 0u) << plan.failures[0].reason;
    } else {
      EXPECT_EQ(plan.failures[0].reason, c.reason);
    }
  }
}

TEST(Scheduler, SameSeedSamePlan) {
  auto run = [](uint64_t seed) {
    NodeTable nodes;
    for (int i = 0; i < 200; ++i) {
      nodes.Upsert(MakeNode("n" + std::to_string(i), {{"rack", std::to_string(i % 7)}}));
    }
    SeededRandom random(seed);
    Scheduler scheduler(nodes, random);
    std::vector<App> apps{MakeApp({Service("a", 50), Service("b", 50)})};
    Plan plan = scheduler.Schedule(apps, {}, 0);
    std::vector<std::pair<std::string, uint32_t>> out;
    for (const auto& p : plan.placements) out.emplace_back(p.instance_id, p.node);
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Scheduler, ResourcesAreAccountedAcrossServices) {
  NodeTable nodes;
  nodes.Upsert(MakeNode("node-1", {}, {1000, 8 * kGi, 100}));
  SeededRandom random(11);
  Scheduler scheduler(nodes, random);
  std::vector<App> apps{MakeApp({Service("a", 3, {300, 0, 0}), Service("b", 3, {300, 0, 0})})};
  Plan plan = scheduler.Schedule(apps, {}, 0);
  EXPECT_EQ(plan.placements.size(), 3u);  // 3 x 300m fit in 1000m
  EXPECT_EQ(nodes.free_cpu(0), 100);
  ASSERT_EQ(plan.failures.size(), 1u);
  EXPECT_EQ(plan.failures[0].count, 3);
}

TEST(Scheduler, ScaleDownAndRemovedServicesStop) {
  NodeTable nodes;
  for (int i = 0; i < 3; ++i) nodes.Upsert(MakeNode("node-" + std::to_string(i)));
  SeededRandom random(12);
  std::vector<App> apps{MakeApp({Service("api", 6), Service("old", 2)})};
  Scheduler scheduler(nodes, random);
  auto instances = Apply({}, scheduler.Schedule(apps, {}, 0), nodes);
  MakeReady(instances);
  apps[0].services[0].replicas = 2;
  apps[0].services.pop_back();
  Plan plan = scheduler.Schedule(apps, instances, 0);
  EXPECT_TRUE(plan.placements.empty());
  std::map<StopReason, int> reasons;
  for (const auto& s : plan.stops) ++reasons[s.reason];
  EXPECT_EQ(reasons[StopReason::kScaleDown], 4);
  EXPECT_EQ(reasons[StopReason::kRemoved], 2);
  instances = Apply(instances, plan, nodes);
  // The two that stay are on different nodes.
  ASSERT_EQ(instances.size(), 2u);
  EXPECT_NE(instances[0].node_id, instances[1].node_id);
}

TEST(Scheduler, InstancesOnADownNodeAreReplacedElsewhere) {
  NodeTable nodes;
  for (int i = 0; i < 3; ++i) nodes.Upsert(MakeNode("node-" + std::to_string(i)));
  SeededRandom random(13);
  Scheduler scheduler(nodes, random);
  std::vector<App> apps{MakeApp({Service("api", 6)})};
  auto instances = Apply({}, scheduler.Schedule(apps, {}, 0), nodes);
  MakeReady(instances);
  auto node = MakeNode("node-0");
  node.status = NodeStatus::kDown;
  nodes.Upsert(node);
  Plan plan = scheduler.Schedule(apps, instances, 0);
  ASSERT_EQ(plan.stops.size(), 2u);
  for (const auto& s : plan.stops) EXPECT_EQ(s.reason, StopReason::kLost);
  ASSERT_EQ(plan.placements.size(), 2u);
  for (const auto& p : plan.placements) EXPECT_NE(nodes.id(p.node), "node-0");
}

TEST(Scheduler, NonDestructiveChangeUpdatesInPlace) {
  NodeTable nodes;
  nodes.Upsert(MakeNode("node-0"));
  SeededRandom random(14);
  Scheduler scheduler(nodes, random);
  std::vector<App> apps{MakeApp({Service("api", 2)})};
  auto instances = Apply({}, scheduler.Schedule(apps, {}, 0), nodes);
  MakeReady(instances);
  apps[0].services[0].expose.push_back({"shop.local", "/", "", 0});
  Plan plan = scheduler.Schedule(apps, instances, 0);
  EXPECT_TRUE(plan.placements.empty());
  EXPECT_TRUE(plan.stops.empty());
  EXPECT_EQ(plan.updates.size(), 2u);
}

// Drives a rolling update to completion, one plan per round, and checks the budget at each.
TEST(Scheduler, RollingUpdateRespectsMaxSurgeAndMaxUnavailable) {
  NodeTable nodes;
  for (int i = 0; i < 5; ++i) nodes.Upsert(MakeNode("node-" + std::to_string(i)));
  SeededRandom random(15);
  Scheduler scheduler(nodes, random);
  auto spec = Service("api", 10);
  spec.update.max_surge = {2, false};
  spec.update.max_unavailable = {1, false};
  std::vector<App> apps{MakeApp({spec})};
  auto instances = Apply({}, scheduler.Schedule(apps, {}, 0), nodes);
  MakeReady(instances);
  apps[0].services[0].image = "img:2";
  const uint64_t v2 = apps[0].services[0].DeployHash();
  int rounds = 0;
  while (true) {
    ASSERT_LT(++rounds, 50) << "rollout does not converge";
    Plan plan = scheduler.Schedule(apps, instances, 0);
    if (plan.placements.empty() && plan.stops.empty()) break;
    instances = Apply(instances, plan, nodes);
    int64_t total = static_cast<int64_t>(instances.size());
    int64_t available = std::count_if(instances.begin(), instances.end(), [](const Instance& i) {
      return i.state == InstanceState::kReady;
    });
    EXPECT_LE(total, 12) << "round " << rounds;     // replicas + maxSurge
    EXPECT_GE(available, 9) << "round " << rounds;  // replicas - maxUnavailable
    MakeReady(instances);
  }
  ASSERT_EQ(instances.size(), 10u);
  for (const auto& i : instances) EXPECT_EQ(i.deploy_hash, v2);
}

TEST(Scheduler, DrainNeverGoesBelowMaxUnavailable) {
  NodeTable nodes;
  nodes.Upsert(MakeNode("node-0"));
  SeededRandom random(16);
  Scheduler scheduler(nodes, random);
  auto spec = Service("api", 4);
  spec.update.max_surge = {0, false};
  spec.update.max_unavailable = {1, false};
  std::vector<App> apps{MakeApp({spec})};
  auto instances = Apply({}, scheduler.Schedule(apps, {}, 0), nodes);
  MakeReady(instances);
  ASSERT_EQ(instances.size(), 4u);
  nodes.Upsert(MakeNode("node-1"));
  nodes.Upsert(MakeNode("node-2"));
  auto draining = MakeNode("node-0");
  draining.status = NodeStatus::kDraining;
  draining.allocated = {400, 4 * (64 << 20), 40};
  nodes.Upsert(draining);
  int rounds = 0;
  while (true) {
    ASSERT_LT(++rounds, 50) << "drain does not converge";
    Plan plan = scheduler.Schedule(apps, instances, 0);
    if (plan.placements.empty() && plan.stops.empty()) break;
    for (const auto& s : plan.stops) EXPECT_EQ(s.reason, StopReason::kMigrate);
    for (const auto& p : plan.placements) EXPECT_NE(nodes.id(p.node), "node-0");
    instances = Apply(instances, plan, nodes);
    int64_t available = std::count_if(instances.begin(), instances.end(), [](const Instance& i) {
      return i.state == InstanceState::kReady;
    });
    EXPECT_GE(available, 3) << "round " << rounds;
    MakeReady(instances);
  }
  ASSERT_EQ(instances.size(), 4u);
  for (const auto& i : instances) EXPECT_NE(i.node_id, "node-0");
}

TEST(Selector, ScoresAtMostLimitFeasibleNodesAndMovesOn) {
  NodeTable nodes;
  for (int i = 0; i < 1000; ++i) {
    nodes.Upsert(MakeNode("n" + std::to_string(i), {{"even", i % 2 == 0 ? "yes" : "no"}}));
  }
  SeededRandom random(17);
  Selector selector(nodes, random);
  EXPECT_EQ(selector.limit(), 16);  // max(16, ceil(log2 1000) = 10)
  auto spec = Service("api", 1);
  spec.placement.constraints = {{"even", Constraint::Op::kEqual, {"yes"}}};
  std::vector<uint16_t> on_node(nodes.size(), 0);
  Feasibility feasibility(nodes, spec, on_node);
  std::set<uint32_t> seen_first, seen_second;
  auto first = selector.Select(feasibility, [&](uint32_t row) {
    EXPECT_EQ(std::stoi(nodes.id(row).substr(1)) % 2, 0);
    seen_first.insert(row);
    return 0.0;
  });
  ASSERT_TRUE(first);
  EXPECT_EQ(seen_first.size(), 16u);
  selector.Select(feasibility, [&](uint32_t row) {
    seen_second.insert(row);
    return 0.0;
  });
  EXPECT_EQ(seen_second.size(), 16u);
  for (uint32_t row : seen_second) EXPECT_EQ(seen_first.count(row), 0u);
}

TEST(Selector, SmallClustersAreScannedWhole) {
  NodeTable nodes;
  for (int i = 0; i < 5; ++i) nodes.Upsert(MakeNode("n" + std::to_string(i)));
  SeededRandom random(18);
  Selector selector(nodes, random);
  EXPECT_EQ(selector.limit(), 5);
  auto spec = Service("api", 1);
  std::vector<uint16_t> on_node(nodes.size(), 0);
  Feasibility feasibility(nodes, spec, on_node);
  auto best = selector.Select(feasibility, [&](uint32_t row) { return row == 3 ? 1.0 : 0.0; });
  ASSERT_TRUE(best);
  EXPECT_EQ(*best, 3u);
}

TEST(Reconcile, MinReadySecondsDelaysAvailability) {
  auto spec = Service("api", 2);
  spec.update.min_ready = Millis(10'000);
  spec.update.max_surge = {0, false};
  spec.update.max_unavailable = {1, false};
  Instance old1{.id = "a", .node_id = "n", .deploy_hash = 1, .state = InstanceState::kReady};
  Instance fresh{.id = "c",
                 .node_id = "n",
                 .deploy_hash = spec.DeployHash(),
                 .spec_hash = spec.SpecHash(),
                 .state = InstanceState::kReady,
                 .ready_since_ms = 95'000};
  std::vector<const Instance*> live{&old1, &fresh};
  auto ready = [](std::string_view) { return NodeStatus::kReady; };
  // Ready for 5s of the 10s needed: not available yet, so the last old one stays.
  ServiceDiff d = Reconcile(&spec, live, ready, 100'000);
  EXPECT_TRUE(d.stop.empty());
  EXPECT_EQ(d.available, 1);
  d = Reconcile(&spec, live, ready, 106'000);
  ASSERT_EQ(d.stop.size(), 1u);
  EXPECT_EQ(d.stop[0].instance, &old1);
  EXPECT_EQ(d.place, 0);  // maxSurge 0: the replacement comes once the stop frees its slot
}

TEST(Reconcile, UnavailableOutdatedInstancesGoFirst) {
  auto spec = Service("api", 3);
  spec.update.max_surge = {0, false};
  spec.update.max_unavailable = {1, false};
  Instance a{.id = "a", .node_id = "n", .deploy_hash = 1, .state = InstanceState::kReady};
  Instance b{.id = "b", .node_id = "n", .deploy_hash = 1, .state = InstanceState::kUnready};
  Instance c{.id = "c", .node_id = "n", .deploy_hash = 1, .state = InstanceState::kReady};
  std::vector<const Instance*> live{&a, &b, &c};
  ServiceDiff d = Reconcile(
      &spec, live, [](std::string_view) { return NodeStatus::kReady; }, 0);
  // 2 available, minimum 2: only the unready one may go.
  ASSERT_EQ(d.stop.size(), 1u);
  EXPECT_EQ(d.stop[0].instance, &b);
  EXPECT_EQ(d.stop[0].reason, StopReason::kOutdated);
  EXPECT_TRUE(d.rolling);
}

}  // namespace
}  // namespace berth::orchestrator
