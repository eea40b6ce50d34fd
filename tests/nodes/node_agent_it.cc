// The node agent (`berthd agent`) against a real `berthd server`, without a controller:
// assignments are written into the store as the reconciler writes them. Real runc
// containers on a private bridge; needs root.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include "core/http/client.h"
#include "tests/nodes/cluster.h"

namespace berth::testing {
namespace {

namespace orch = berth::orchestrator;

const char* kApi = R"(image: shop-api:v1
env: {PORT: "8081"}
ports: [{name: http, containerPort: 8081}]
resources: {cpu: 100m, memory: 64Mi, pids: 64}
probes:
  readiness: {http: {path: /healthz, port: http}, period: 500ms, timeout: 400ms}
)";

class NodeAgentIT : public ::testing::Test {
 protected:
  void SetUp() override {
    // Assignments are written by hand here: no controller may replace them.
    ASSERT_TRUE(cluster_.StartServer("server", {"--no-controller"}));
    ASSERT_TRUE(cluster_.StartAgent(0, "n1"));
  }

  // The registry's view of shop/api: instance id → "ip:port".
  std::map<std::string, std::string> Registry() {
    std::map<std::string, std::string> out;
    Json j = cluster_.Call("GET", "/v1/registry/shop/api");
    if (!j.is_object() || !j["instances"].is_array()) return out;
    for (const auto& in : j["instances"])
      out[in.value("id", "")] = in.value("address", "") + ":" + std::to_string(in.value("port", 0));
    return out;
  }

  std::string IpOf(const std::string& node, const std::string& id) {
    for (const auto& a : cluster_.Instances(node))
      if (a.value("id", "") == id) return a.value("ip", "");
    return "";
  }

  Cluster cluster_;
};

TEST_F(NodeAgentIT, RunsAnAssignmentProbesItRegistersItAndStopsItWhenRemoved) {
  auto spec = ServiceFromYaml("api", kApi);
  cluster_.Assign("n1", "shop", "store", spec, "api-00000001");
  ASSERT_TRUE(WaitFor([&] { return cluster_.StateOf("n1", "api-00000001") == "ready"; }))
      << cluster_.Instances("n1").dump();
  std::string ip = IpOf("n1", "api-00000001");
  ASSERT_FALSE(ip.empty());
  // In the registry at the container's address, with the contract's tags.
  ASSERT_TRUE(WaitFor([&] { return Registry().count("api-00000001") == 1; }));
  EXPECT_EQ(Registry()["api-00000001"], ip + ":8081");
  Json reg = cluster_.Call("GET", "/v1/registry/shop/api/api-00000001");
  EXPECT_EQ(reg["tags"][0], "app=store") << reg.dump();
  EXPECT_EQ(reg["tags"][1], fmt::format("deploy={:016x}", spec.DeployHash())) << reg.dump();
  // The container answers on its address and knows who it is.
  auto products = http::Fetch("GET", "http://" + ip + ":8081/products");
  ASSERT_TRUE(products) << products.error().message;
  EXPECT_NE(products->body.find("api-00000001"), std::string::npos) << products->body;
  // Allocations on the node.
  Json node = cluster_.Call("GET", "/v1/nodes/n1");
  EXPECT_EQ(node["allocated"]["cpu_millis"], 100);
  EXPECT_EQ(node["ready"], 1);
  EXPECT_GT(cluster_.ShimPid(0, "api-00000001"), 0);

  // Removed: out of the registry, stopped, its status gone.
  cluster_.Unassign("n1", "shop", "store", "api-00000001");
  ASSERT_TRUE(WaitFor([&] { return Registry().empty(); }));
  ASSERT_TRUE(WaitFor([&] {
    int status = 0;
    cluster_.Call("GET", "/v1/kv/nodes/n1/status/shop/store/api-00000001", {}, &status);
    return status == 404 && cluster_.ShimPid(0, "api-00000001") == 0;
  }));
  EXPECT_FALSE(http::Fetch("GET", "http://" + ip + ":8081/healthz", {}, {},
                           {.connect_timeout = std::chrono::milliseconds(500),
                            .timeout = std::chrono::milliseconds(1000)}));
}

TEST_F(NodeAgentIT, AdoptsItsContainersAfterARestartAndStopsTheOnesUnassignedMeanwhile) {
  auto spec = ServiceFromYaml("api", kApi);
  cluster_.Assign("n1", "shop", "store", spec, "api-0000000a");
  cluster_.Assign("n1", "shop", "store", spec, "api-0000000b");
  ASSERT_TRUE(WaitFor([&] {
    return cluster_.StateOf("n1", "api-0000000a") == "ready" &&
           cluster_.StateOf("n1", "api-0000000b") == "ready";
  })) << cluster_.Instances("n1").dump();
  int shim_a = cluster_.ShimPid(0, "api-0000000a");
  std::string ip_a = IpOf("n1", "api-0000000a");
  ASSERT_GT(shim_a, 0);

  cluster_.KillAgent(0);
  cluster_.Unassign("n1", "shop", "store", "api-0000000b");
  ASSERT_TRUE(cluster_.StartAgent(0, "n1"));
  // b goes, a stays: the same container (shim), the same address, ready again.
  ASSERT_TRUE(WaitFor([&] { return cluster_.ShimPid(0, "api-0000000b") == 0; }));
  ASSERT_TRUE(WaitFor([&] { return cluster_.StateOf("n1", "api-0000000a") == "ready"; }));
  EXPECT_EQ(cluster_.ShimPid(0, "api-0000000a"), shim_a);
  EXPECT_EQ(IpOf("n1", "api-0000000a"), ip_a);
  ASSERT_TRUE(WaitFor([&] { return Registry().size() == 1 && Registry().count("api-0000000a"); }));
  EXPECT_NE(cluster_.agent(0).Logs().find("adopting container api-0000000a"), std::string::npos);
}

TEST_F(NodeAgentIT, ReportsCrashesWithBackOffAndGivesUpAfterMaxRestarts) {
  auto crash = ServiceFromYaml("job", R"(image: busy:v1
command: ["/bin/sh", "-c", "echo boom; exit 3"]
restart: {policy: on-failure, backoff: 200ms, maxBackoff: 1s, maxRestarts: 3}
)");
  cluster_.Assign("n1", "shop", "store", crash, "job-00000001");
  ASSERT_TRUE(WaitFor([&] { return cluster_.StateOf("n1", "job-00000001") == "failed"; }))
      << cluster_.Instances("n1").dump();
  Json inst = cluster_.Instances("n1")[0];
  EXPECT_NE(inst.value("message", "").find("exited with code 3"), std::string::npos) << inst;
  EXPECT_NE(inst.value("message", "").find("gave up after 3 restarts"), std::string::npos) << inst;

  // An image the node does not have: failed, with a message that says what to do.
  auto missing = ServiceFromYaml("api", "image: shop-api:v9\n");
  cluster_.Assign("n1", "shop", "store", missing, "api-00000009");
  ASSERT_TRUE(WaitFor([&] { return cluster_.StateOf("n1", "api-00000009") == "failed"; }));
  for (const auto& a : cluster_.Instances("n1")) {
    if (a.value("id", "") != "api-00000009") continue;
    EXPECT_NE(a.value("message", "").find("image shop-api:v9 is not on node n1"), std::string::npos)
        << a;
  }
}

TEST_F(NodeAgentIT, RestartsAContainerWhoseLivenessProbeFails) {
  auto svc = ServiceFromYaml("idle", R"(image: busy:v1
command: ["/bin/sleep", "1000"]
ports: [9999]
probes:
  liveness: {tcp: {port: 9999}, period: 300ms, timeout: 300ms, failureThreshold: 2}
restart: {policy: always, backoff: 300ms, maxBackoff: 1s}
)");
  cluster_.Assign("n1", "shop", "store", svc, "idle-00000001");
  ASSERT_TRUE(WaitFor([&] { return cluster_.ShimPid(0, "idle-00000001") > 0; }));
  int first = cluster_.ShimPid(0, "idle-00000001");
  ASSERT_TRUE(WaitFor([&] {
    int now = cluster_.ShimPid(0, "idle-00000001");
    return now > 0 && now != first;
  })) << cluster_.Instances("n1").dump();
  EXPECT_NE(cluster_.agent(0).Logs().find("liveness probe failed 2 times"), std::string::npos);
}

TEST_F(NodeAgentIT, RegistersAgainWhenItsLeaseIsGoneAndResendsStatus) {
  auto spec = ServiceFromYaml("api", kApi);
  cluster_.Assign("n1", "shop", "store", spec, "api-00000001");
  ASSERT_TRUE(WaitFor([&] { return cluster_.StateOf("n1", "api-00000001") == "ready"; }));
  Json before = cluster_.Call("GET", "/v1/nodes/n1");
  // Revoke the node's lease (what an expiry does): its key and status reports go.
  cluster_.Call("DELETE", "/v1/leases/" + std::to_string(before.value("lease", int64_t{0})));
  ASSERT_TRUE(WaitFor([&] {
    Json n = cluster_.Call("GET", "/v1/nodes/n1");
    return n.value("registered", false) && n.value("lease", int64_t{0}) != before["lease"] &&
           cluster_.StateOf("n1", "api-00000001") == "ready";
  })) << cluster_.Call("GET", "/v1/nodes/n1").dump();
}

}  // namespace
}  // namespace berth::testing
