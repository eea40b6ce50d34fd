// A canary rollout end to end: one `berthd server` with its controller and a gateway fed by
// the store and the registry, one `berthd agent` running the demo's shop-api in real
// containers. The versions differ by $VERSION, which shop-api puts in every answer, so the
// test counts which version answered each request through the gateway. Needs root.
//
// Statistics: each count is binomial; the accepted ranges lie more than 6 standard
// deviations from the expected count on both sides, so a correct split fails them with
// probability below 1e-8, while a route that ignored the weights (or sent nothing to one
// version) lands outside them.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "core/http/client.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"
#include "tests/nodes/cluster.h"

namespace berth::testing {
namespace {

namespace orch = berth::orchestrator;

std::string AppYaml(const std::string& version) {
  return fmt::format(R"(namespace: shop
name: store
services:
  api:
    image: shop-api:v1
    env: {{PORT: "8081", VERSION: "{}"}}
    ports: [{{name: http, containerPort: 8081}}]
    resources: {{cpu: 100m, memory: 32Mi, pids: 64}}
    replicas: 2
    probes:
      readiness: {{http: {{path: /healthz, port: http}}, period: 500ms, timeout: 400ms}}
    update: {{maxSurge: 1, maxUnavailable: 0, canary: {{replicas: 1}}}}
    expose: [{{path: /api, canaryWeight: 30}}]
)",
                     version);
}

class CanaryIT : public ::testing::Test {
 protected:
  void SetUp() override {
    gw_port_ = FreePort();
    ASSERT_TRUE(cluster_.StartServer(
        "server", {"--gateway", fmt::format("127.0.0.1:{}", gw_port_), "--gateway-workers", "1"}));
    ASSERT_TRUE(cluster_.StartAgent(0, "n1", {"--capacity", "cpu=2,memory=2Gi,pids=4096"}));
    ASSERT_TRUE(WaitForTcp(gw_port_));
  }

  void Apply(const std::string& yaml) {
    auto app = orch::ParseAppYaml(yaml, "app.yaml");
    ASSERT_TRUE(app) << app.error().message;
    int status = 0;
    Json r = cluster_.Call("POST", "/v1/apps", orch::AppToJson(*app), &status);
    ASSERT_TRUE(status == 200 || status == 201) << r.dump();
  }
  Json Rollout() { return cluster_.Call("GET", "/v1/apps/shop/store/services/api/rollout"); }
  // The phase of the rollout of the current spec ("pending" before the controller saw it).
  std::string Phase() {
    Json r = Rollout();
    if (!r.contains("rollout") || r["rollout"].value("to", "") != r.value("deploy_hash", "")) {
      return "pending";
    }
    return r["rollout"].value("phase", "");
  }
  // Which version answered `n` requests through the gateway ("v1", "v2", or "<status>").
  std::map<std::string, int> Spread(int n) {
    std::map<std::string, int> out;
    auto client = http::Client::Create(fmt::format("http://127.0.0.1:{}", gw_port_));
    if (!client) return {{"no client", n}};
    for (int i = 0; i < n; ++i) {
      http::Request req;
      req.method = "GET";
      req.target = "/api/products";
      auto r = (*client)->Send(std::move(req));
      if (!r) {
        out["error " + r.error().message]++;
        continue;
      }
      auto j = ParseJson(r->body);
      if (r->status != 200 || !j) {
        out[std::to_string(r->status)]++;
        continue;
      }
      out[j->value("version", "?")]++;
    }
    return out;
  }
  static std::string Show(const std::map<std::string, int>& m) {
    std::string s;
    for (const auto& [k, v] : m) s += fmt::format("{}={} ", k, v);
    return s;
  }

  Cluster cluster_;
  int gw_port_ = 0;
};

TEST_F(CanaryIT, GatewaySplitsByCanaryWeightAndPromoteMovesEverythingToTheNewVersion) {
  Apply(AppYaml("v1"));
  ASSERT_TRUE(WaitFor([&] { return Phase() == "complete"; }, std::chrono::seconds(90)))
      << Rollout().dump();
  ASSERT_TRUE(WaitFor([&] { return Spread(5)["v1"] == 5; }, std::chrono::seconds(30)))
      << Show(Spread(5));

  Apply(AppYaml("v2"));
  ASSERT_TRUE(WaitFor([&] { return Phase() == "paused"; }, std::chrono::seconds(90)))
      << Rollout().dump();
  // The split reaches the gateway once the canary is in the registry.
  ASSERT_TRUE(WaitFor([&] { return Spread(20)["v2"] > 0; }, std::chrono::seconds(30)))
      << Show(Spread(20));
  // 300 requests at 30%: expected 90 v2 (sd 7.9); accepted [40, 150].
  auto split = Spread(300);
  std::cout << "figure canary_split weight=30% of 300 requests: " << Show(split) << "\n";
  EXPECT_EQ(split["v1"] + split["v2"], 300) << Show(split);
  EXPECT_GE(split["v2"], 40) << Show(split);
  EXPECT_LE(split["v2"], 150) << Show(split);
  Json r = Rollout();
  EXPECT_EQ(r["rollout"]["canary"]["stable_available"], 2) << r.dump();

  int status = 0;
  cluster_.Call("POST", "/v1/apps/shop/store/services/api/rollout/promote", "{}", &status);
  ASSERT_EQ(status, 200);
  ASSERT_TRUE(WaitFor([&] { return Phase() == "complete"; }, std::chrono::seconds(90)))
      << Rollout().dump();
  // Old instances leave the registry before they stop: soon only v2 answers.
  ASSERT_TRUE(WaitFor([&] { return Spread(20)["v2"] == 20; }, std::chrono::seconds(30)))
      << Show(Spread(20));
  auto after = Spread(100);
  EXPECT_EQ(after["v2"], 100) << Show(after);
}

TEST_F(CanaryIT, AbortSendsEveryRequestBackToStable) {
  Apply(AppYaml("v1"));
  ASSERT_TRUE(WaitFor([&] { return Phase() == "complete"; }, std::chrono::seconds(90)))
      << Rollout().dump();
  Apply(AppYaml("v2"));
  ASSERT_TRUE(WaitFor([&] { return Phase() == "paused"; }, std::chrono::seconds(90)))
      << Rollout().dump();
  ASSERT_TRUE(WaitFor([&] { return Spread(20)["v2"] > 0; }, std::chrono::seconds(30)))
      << Show(Spread(20));

  int status = 0;
  cluster_.Call("POST", "/v1/apps/shop/store/services/api/rollout/abort", "{}", &status);
  ASSERT_EQ(status, 200);
  ASSERT_TRUE(WaitFor([&] { return Spread(20)["v1"] == 20; }, std::chrono::seconds(30)))
      << Show(Spread(20));
  auto after = Spread(100);
  EXPECT_EQ(after["v1"], 100) << Show(after);
  ASSERT_TRUE(WaitFor([&] { return Phase() == "complete"; }, std::chrono::seconds(90)))
      << Rollout().dump();
  Json app = cluster_.Call("GET", "/v1/apps/shop/store");
  EXPECT_EQ(app["spec"]["services"]["api"]["env"]["VERSION"], "v1") << app.dump();
}

}  // namespace
}  // namespace berth::testing
