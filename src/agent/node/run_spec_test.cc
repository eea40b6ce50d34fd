#include "agent/node/run_spec.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace berth::agent::node {
namespace {

namespace orch = berth::orchestrator;

orch::Assignment Sample() {
  orch::Assignment a;
  a.instance.id = "api-0badc0de";
  a.instance.ns = "shop";
  a.instance.app = "store";
  a.instance.service = "api";
  a.instance.node_id = "node-1";
  a.spec.name = "api";
  a.spec.image = "shop-api:v1";
  a.spec.command = {"/api", "--port", "8080"};
  a.spec.env = {{"LOG", "debug"}};
  a.spec.ports = {{"http", 8080, 18080, orch::Protocol::kTcp},
                  {"admin", 9090, 0, orch::Protocol::kTcp}};
  a.spec.resources = {500, 64 << 20, 100};
  a.spec.restart.mode = orch::RestartMode::kOnFailure;
  a.spec.restart.backoff_initial = std::chrono::milliseconds(500);
  a.spec.restart.backoff_max = std::chrono::milliseconds(8000);
  return a;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ToRunSpec, NamesTheContainerByInstanceAndPublishesHostPortsOnTheNodeAddress) {
  RunSpec s = ToRunSpec(Sample(), {"node-1", "127.0.0.3", "http://100.64.0.1:8080"});
  EXPECT_EQ(s.name, "api-0badc0de");
  EXPECT_EQ(s.hostname, "api-0badc0de");
  EXPECT_EQ(s.image, "shop-api:v1");
  EXPECT_EQ(s.entrypoint, (std::vector<std::string>{"/api", "--port", "8080"}));
  EXPECT_TRUE(s.cmd.empty());
  EXPECT_EQ(s.network, runtime::NetworkMode::kBridge);
  ASSERT_EQ(s.ports.size(), 1u);  // only ports with a host port are published
  EXPECT_EQ(s.ports[0].host_port, 18080);
  EXPECT_EQ(s.ports[0].container_port, 8080);
  EXPECT_EQ(s.ports[0].host_ip, "127.0.0.3");
  EXPECT_EQ(s.resources.memory_bytes, 64 << 20);
  EXPECT_DOUBLE_EQ(s.resources.cpus, 0.5);
  EXPECT_EQ(s.resources.pids, 100);
  EXPECT_EQ(s.restart, RestartPolicy::kOnFailure);
  EXPECT_EQ(s.backoff.initial, std::chrono::milliseconds(500));
  EXPECT_EQ(s.backoff.cap, std::chrono::milliseconds(8000));
  EXPECT_TRUE(Has(s.env, "LOG=debug"));
  EXPECT_TRUE(Has(s.env, "BERTH_NAMESPACE=shop"));
  EXPECT_TRUE(Has(s.env, "BERTH_APP=store"));
  EXPECT_TRUE(Has(s.env, "BERTH_SERVICE=api"));
  EXPECT_TRUE(Has(s.env, "BERTH_INSTANCE=api-0badc0de"));
  EXPECT_TRUE(Has(s.env, "BERTH_NODE=node-1"));
  EXPECT_TRUE(Has(s.env, "BERTH_GATEWAY_URL=http://100.64.0.1:8080"));
}

TEST(ToRunSpec, KeepsTheImageCommandWhenTheSpecHasNone) {
  auto a = Sample();
  a.spec.command.clear();
  a.spec.restart.mode = orch::RestartMode::kAlways;
  RunSpec s = ToRunSpec(a, {"n", "", ""});
  EXPECT_TRUE(s.entrypoint.empty());
  EXPECT_EQ(s.restart, RestartPolicy::kAlways);
  EXPECT_EQ(s.ports[0].host_ip, "127.0.0.1");
  for (const auto& e : s.env) EXPECT_FALSE(e.starts_with("BERTH_GATEWAY_URL="));
}

TEST(ToRunSpec, CarriesTheSecurityContext) {
  auto a = Sample();
  RunSpec plain = ToRunSpec(a, {"n", "", ""});
  EXPECT_FALSE(plain.security.read_only_rootfs);
  EXPECT_FALSE(plain.run_as_non_root);
  EXPECT_EQ(plain.user, "");  // the image's
  a.spec.security = {
      .read_only_root_filesystem = true, .run_as_non_root = true, .run_as_user = 65534};
  RunSpec s = ToRunSpec(a, {"n", "", ""});
  EXPECT_TRUE(s.security.read_only_rootfs);
  EXPECT_TRUE(s.run_as_non_root);
  EXPECT_EQ(s.user, "65534");
  EXPECT_TRUE(s.security.no_new_privileges);  // the hardened profile stays
}

TEST(ProbePort, FallsBackToTheFirstPort) {
  auto a = Sample();
  orch::Probe p;
  EXPECT_EQ(ProbePort(p, a.spec), 8080);
  p.port = 9090;
  EXPECT_EQ(ProbePort(p, a.spec), 9090);
  a.spec.ports.clear();
  p.port = 0;
  EXPECT_EQ(ProbePort(p, a.spec), 0);
}

TEST(HostCapacity, ReadsMemTotalAndCores) {
  EXPECT_EQ(ParseMemTotal("MemFree: 10 kB\nMemTotal:       16314516 kB\n"), 16314516LL * 1024);
  EXPECT_EQ(ParseMemTotal("nothing"), 0);
  auto c = HostCapacity();
  EXPECT_GE(c.cpu_millis, 1000);
  EXPECT_EQ(c.cpu_millis % 1000, 0);
  EXPECT_GT(c.memory_bytes, 0);
  EXPECT_GT(c.pids, 0);
}

TEST(ParseLabels, SplitsPairsAndNamesTheBadOne) {
  auto l = ParseLabels("zone=eu-1,disk=ssd,empty=");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->at("zone"), "eu-1");
  EXPECT_EQ(l->at("disk"), "ssd");
  EXPECT_EQ(l->at("empty"), "");
  auto bad = ParseLabels("zone=a,oops");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"oops\""), std::string::npos);
}

TEST(FirstHost, IsTheBridgeAddress) {
  EXPECT_EQ(FirstHost("100.64.0.0/16").value(), "100.64.0.1");
  EXPECT_EQ(FirstHost("10.1.2.128/25").value(), "10.1.2.129");
  EXPECT_FALSE(FirstHost("100.64.0.0"));
  EXPECT_FALSE(FirstHost("nonsense/8"));
  EXPECT_FALSE(FirstHost("10.0.0.0/31"));
}

}  // namespace
}  // namespace berth::agent::node
