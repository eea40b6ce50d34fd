// One control plane (`berthd server` with its controller) and three `berthd agent`
// processes as three nodes, each with its own data directory, bridge and subnet: replicas
// spread across nodes; a SIGKILLed agent's instances come back on the other nodes after the
// node grace period; a drain empties a node without going below maxUnavailable. Needs root.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "orchestrator/codec.h"
#include "orchestrator/spec.h"
#include "tests/nodes/cluster.h"

namespace berth::testing {
namespace {

namespace orch = berth::orchestrator;
using Clock = std::chrono::steady_clock;

constexpr const char* kGrace = "5s";

std::string AppYaml(int replicas, const std::string& update) {
  return fmt::format(R"(namespace: shop
name: store
services:
  api:
    image: shop-api:v1
    env: {{PORT: "8081"}}
    ports: [{{name: http, containerPort: 8081}}]
    resources: {{cpu: 100m, memory: 32Mi, pids: 64}}
    replicas: {}
    probes:
      readiness: {{http: {{path: /healthz, port: http}}, period: 500ms, timeout: 400ms}}
    update: {}
)",
                     replicas, update);
}

class ClusterIT : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartServer("server", {"--node-grace", kGrace}));
    for (size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(cluster_.StartAgent(i, nodes_[i], {"--capacity", "cpu=2,memory=2Gi,pids=4096"}));
    }
  }

  void Apply(const std::string& yaml) {
    auto app = orch::ParseAppYaml(yaml, "app.yaml");
    ASSERT_TRUE(app) << app.error().message;
    Json r = cluster_.Call("PUT", "/v1/kv" + orch::AppKey(app->ns, app->name),
                           Json{{"value", orch::AppToJson(*app)}}.dump());
    ASSERT_TRUE(r.contains("revision")) << r.dump();
  }

  // Ready instances of shop/store per node.
  std::map<std::string, int> Ready() {
    std::map<std::string, int> out;
    for (const auto& n : nodes_) {
      for (const auto& a : cluster_.Instances(n))
        if (a.value("app", "") == "store" && a.value("state", "") == "ready") out[n]++;
    }
    return out;
  }
  int Total(const std::map<std::string, int>& m) {
    int t = 0;
    for (const auto& [k, v] : m) t += v;
    return t;
  }
  int Assigned(const std::string& node) {
    int n = 0;
    for (const auto& a : cluster_.Instances(node))
      if (a.value("app", "") == "store") n++;
    return n;
  }

  Cluster cluster_;
  const std::vector<std::string> nodes_ = {"n1", "n2", "n3"};
};

TEST_F(ClusterIT, SpreadsReplicasAcrossNodes) {
  Apply(AppYaml(3, "{maxSurge: 1, maxUnavailable: 0}"));
  ASSERT_TRUE(WaitFor([&] { return Total(Ready()) == 3; }, std::chrono::seconds(90)))
      << cluster_.Call("GET", "/v1/nodes").dump();
  auto ready = Ready();
  for (const auto& n : nodes_) EXPECT_EQ(ready[n], 1) << n;
}

TEST_F(ClusterIT, AKilledAgentsInstancesComeBackElsewhereAfterTheGracePeriod) {
  Apply(AppYaml(3, "{maxSurge: 1, maxUnavailable: 0}"));
  ASSERT_TRUE(WaitFor([&] { return Total(Ready()) == 3; }, std::chrono::seconds(90)));
  auto t0 = Clock::now();
  cluster_.KillAgent(1);  // n2: its lease (ttl 3s) lapses, then the grace period runs
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = Ready();
        return r["n1"] + r["n3"] == 3 && Assigned("n2") == 0;
      },
      std::chrono::seconds(90)))
      << cluster_.Call("GET", "/v1/nodes").dump();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << fmt::format(
      "figure node_loss_to_replaced_ready {:.1f} s (lease ttl 3 s + grace {})\n", secs, kGrace);
}

TEST_F(ClusterIT, DrainEmptiesANodeWithoutGoingBelowMaxUnavailable) {
  Apply(AppYaml(6, "{maxSurge: 0, maxUnavailable: 1}"));
  ASSERT_TRUE(WaitFor([&] { return Total(Ready()) == 6; }, std::chrono::seconds(90)))
      << cluster_.Call("GET", "/v1/nodes").dump();
  ASSERT_GT(Assigned("n1"), 0);
  Json d = cluster_.Call("POST", "/v1/nodes/n1/drain");
  ASSERT_EQ(d.value("status", ""), "draining") << d.dump();
  int lowest = 6;
  ASSERT_TRUE(WaitFor(
      [&] {
        int ready = Total(Ready());
        lowest = std::min(lowest, ready);
        return Assigned("n1") == 0 && ready == 6;
      },
      std::chrono::seconds(90), std::chrono::milliseconds(50)))
      << cluster_.Call("GET", "/v1/nodes").dump();
  EXPECT_GE(lowest, 5) << "drain went below replicas - maxUnavailable";
  EXPECT_EQ(cluster_.Call("GET", "/v1/nodes/n1").value("status", ""), "draining");
}

}  // namespace
}  // namespace berth::testing
