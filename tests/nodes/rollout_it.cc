// Rolling updates on a real cluster: `berthd server` with its store-fed gateway and three
// `berthd agent` processes (runc containers, one bridge each). Needs root.
// - A rolling update under bounded load from wrk through the gateway loses no request: the
//   old instances leave the registry and the gateway before they are stopped.
// - A new version that cannot run rolls back by itself, without the running version going
//   below replicas - maxUnavailable: (a) its image does not exist, (b) it crash-loops.
// Each case is its own ctest test (rollout_it.<Case>), with its own cluster.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <map>
#include <thread>

#include "tests/nodes/cluster.h"

namespace berth::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kTarget = "shop/store/api";

// One version of the app: image, optional command, the VERSION its answers carry.
struct Version {
  std::string image = "shop-api:v1";
  std::string command;  // YAML flow sequence, or empty
  std::string version = "v1";
};

std::string AppYaml(const Version& v, int max_unavailable) {
  return fmt::format(R"(namespace: shop
name: store
services:
  api:
    image: {}
{}    env: {{PORT: "8081", VERSION: {}}}
    ports: [{{name: http, containerPort: 8081}}]
    resources: {{cpu: 100m, memory: 32Mi, pids: 64}}
    replicas: 3
    probes:
      readiness: {{http: {{path: /healthz, port: http}}, period: 500ms, timeout: 400ms}}
    restart: {{policy: always, backoff: 200ms, maxBackoff: 1s}}
    update: {{maxSurge: 1, maxUnavailable: {}, minReadySeconds: 1, progressDeadline: 5m}}
    expose: [{{path: /api/, port: http}}]
)",
                     v.image, v.command.empty() ? "" : "    command: " + v.command + "\n",
                     v.version, max_unavailable);
}

// wrk with a bounded rate (each connection pauses 5 ms between requests) that counts the
// answers by the version in their body and prints one summary line when it ends.
constexpr const char* kWrkScript = R"(v1, v2, other = 0, 0, 0
function delay() return 5 end
function response(status, headers, body)
  if status == 200 and body:find('"version":"v1"', 1, true) then v1 = v1 + 1
  elseif status == 200 and body:find('"version":"v2"', 1, true) then v2 = v2 + 1
  else other = other + 1 end
end
threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do a = a + t:get("v1"); b = b + t:get("v2"); c = c + t:get("other") end
  local e = summary.errors
  io.write(string.format(
    "wrk-result requests=%d connect=%d read=%d write=%d status=%d timeout=%d v1=%d v2=%d other=%d\n",
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout, a, b, c))
end
)";

// "key=value" pairs of the wrk-result line.
std::map<std::string, long> ParseWrkResult(const std::string& log) {
  std::map<std::string, long> out;
  auto pos = log.find("wrk-result ");
  if (pos == std::string::npos) return out;
  auto end = log.find('\n', pos);
  std::string line = log.substr(pos + 11, end == std::string::npos ? end : end - pos - 11);
  size_t i = 0;
  while (i < line.size()) {
    size_t sp = line.find(' ', i);
    if (sp == std::string::npos) sp = line.size();
    std::string kv = line.substr(i, sp - i);
    auto eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = std::stol(kv.substr(eq + 1));
    i = sp + 1;
  }
  return out;
}

class RolloutIT : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_port_ = FreePort();
    ASSERT_TRUE(cluster_.StartServer(
        "server", {"--node-grace", "30s", "--gateway", "127.0.0.1:" + std::to_string(gateway_port_),
                   "--gateway-workers", "1"}));
    for (size_t i = 0; i < nodes_.size(); ++i) {
      ASSERT_TRUE(cluster_.StartAgent(i, nodes_[i], {"--capacity", "cpu=2,memory=2Gi,pids=4096"}));
    }
  }

  void TearDown() override {
    // The Cluster's destructor stops the agents and removes their containers.
    if (HasFailure()) std::cerr << cluster_.Berth({"describe", "app", "shop/store"}).text;
  }

  ToolResult Apply(const Version& v, int max_unavailable) {
    std::string file =
        cluster_.WriteFile("app-" + v.version + ".yaml", AppYaml(v, max_unavailable));
    return cluster_.Berth({"apply", "-f", file});
  }
  ToolResult WatchRollout() {
    return cluster_.Berth({"rollout", "status", "--watch", "--timeout", "100s", kTarget},
                          std::chrono::seconds(110));
  }
  // GET /v1/apps/shop/store/services/api/rollout: counts, instances, rollout record, history.
  Json Rollout() { return cluster_.Call("GET", "/v1/apps/shop/store/services/api/rollout"); }

  // Ready instances by deploy hash.
  static std::map<std::string, int> ReadyByHash(const Json& rollout) {
    std::map<std::string, int> out;
    if (!rollout.contains("instances")) return out;
    for (const auto& i : rollout["instances"])
      if (i.value("state", "") == "ready") out[i.value("deploy_hash", "")]++;
    return out;
  }

  // The version the gateway answers /api/products with ("" on failure).
  std::string GatewayVersion() {
    auto body = HttpGet(gateway_port_, "/api/products", std::chrono::seconds(3));
    if (!body) return "";
    auto j = ParseJson(*body);
    return j && j->is_object() ? j->value("version", "") : "";
  }
  bool GatewayAnswersOnly(const std::string& version, int times = 10) {
    for (int i = 0; i < times; ++i)
      if (GatewayVersion() != version) return false;
    return true;
  }

  // v1 deployed: 3 ready instances, the gateway answering with v1.
  void DeployV1(int max_unavailable) {
    auto a = Apply(Version{}, max_unavailable);
    ASSERT_EQ(a.code, 0) << a.text;
    auto w = WatchRollout();
    ASSERT_EQ(w.code, 0) << w.text;
    ASSERT_TRUE(WaitFor([&] { return GatewayAnswersOnly("v1"); })) << Rollout().dump();
    v1_hash_ = Rollout().value("deploy_hash", "");
    ASSERT_FALSE(v1_hash_.empty());
  }

  // A version that cannot run is applied; the controller rolls back to v1 by itself. The
  // ready v1 instances never drop below replicas - maxUnavailable (polled throughout).
  void ExpectRollsBackByItself(const Version& bad, int max_unavailable) {
    ASSERT_NO_FATAL_FAILURE(DeployV1(max_unavailable));
    auto a = Apply(bad, max_unavailable);
    ASSERT_EQ(a.code, 0) << a.text;
    int lowest = 3;
    auto t0 = SteadyClock::now();
    ASSERT_TRUE(WaitFor(
        [&] {
          Json r = Rollout();
          std::string hash = r.value("deploy_hash", "");
          if (hash.empty() || !r["history"].is_array() || r["history"].empty()) return false;
          lowest = std::min(lowest, ReadyByHash(r)[v1_hash_]);
          const Json& rec = r.contains("rollout") ? r["rollout"] : Json();
          const Json& last = r["history"].back();
          return last.value("cause", "").starts_with("rollback to") && hash == v1_hash_ &&
                 rec.value("is_rollback", false) && rec.value("phase", "") == "complete" &&
                 ReadyByHash(r)[v1_hash_] == 3 && r.value("instances_total", 0) == 3;
        },
        std::chrono::seconds(90), std::chrono::milliseconds(50)))
        << Rollout().dump(2);
    double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    std::cout << fmt::format("figure bad_version_to_rolled_back {:.1f} s ({})\n", secs, bad.image);
    EXPECT_GE(lowest, 3 - max_unavailable) << "went below replicas - maxUnavailable";

    Json r = Rollout();
    EXPECT_EQ(r.value("image", ""), "shop-api:v1");
    auto history = cluster_.Berth({"rollout", "history", kTarget});
    EXPECT_EQ(history.code, 0) << history.text;
    EXPECT_NE(history.text.find(bad.image), std::string::npos) << history.text;
    EXPECT_NE(history.text.find("rollback to"), std::string::npos) << history.text;
    auto describe = cluster_.Berth({"describe", "app", "shop/store"});
    EXPECT_EQ(describe.code, 0) << describe.text;
    EXPECT_NE(describe.text.find("RolloutFailed"), std::string::npos) << describe.text;
    EXPECT_NE(describe.text.find("RolledBack"), std::string::npos) << describe.text;
    EXPECT_TRUE(GatewayAnswersOnly("v1"));
  }

  Cluster cluster_;
  const std::vector<std::string> nodes_ = {"n1", "n2", "n3"};
  int gateway_port_ = 0;
  std::string v1_hash_;
};

TEST_F(RolloutIT, RollingUpdateUnderLoadLosesNoRequest) {
  ASSERT_NO_FATAL_FAILURE(DeployV1(0));
  std::vector<std::string> old_ids;
  const Json v1 = Rollout();
  for (const auto& i : v1["instances"]) old_ids.push_back(i.value("id", ""));
  ASSERT_EQ(old_ids.size(), 3u);

  std::string script = cluster_.WriteFile("count.lua", kWrkScript);
  auto wrk =
      Process::Start("wrk", {"wrk", "-t1", "-c4", "-d100s", "--timeout", "10s", "-s", script,
                             fmt::format("http://127.0.0.1:{}/api/products", gateway_port_)});
  ASSERT_TRUE(wrk);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // load before the change

  auto t0 = SteadyClock::now();
  auto a = Apply(Version{.version = "v2"}, 0);
  ASSERT_EQ(a.code, 0) << a.text;
  auto w = WatchRollout();
  ASSERT_EQ(w.code, 0) << w.text;
  EXPECT_NE(w.text.find("complete: 3 of 3 new replicas available"), std::string::npos) << w.text;
  double rollout_secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();

  // The new version everywhere: three ready v2 instances, and only v2 through the gateway.
  Json r = Rollout();
  const std::string v2_hash = r.value("deploy_hash", "");
  EXPECT_NE(v2_hash, v1_hash_);
  EXPECT_EQ(ReadyByHash(r)[v2_hash], 3) << r.dump(2);
  ASSERT_TRUE(WaitFor([&] { return GatewayAnswersOnly("v2"); }));
  // Keep the load on until every old container is gone (their stop sequences ran under it).
  ASSERT_TRUE(WaitFor([&] {
    for (size_t n = 0; n < nodes_.size(); ++n)
      for (const auto& id : old_ids)
        if (cluster_.ShimPid(n, id) != 0) return false;
    return true;
  }));
  ASSERT_TRUE(wrk->Running()) << "wrk ended before the rollout did";
  wrk->Kill(SIGINT);  // wrk prints its summary on SIGINT
  ASSERT_TRUE(wrk->Wait(std::chrono::seconds(30)).has_value());
  auto res = ParseWrkResult(wrk->Logs());
  ASSERT_FALSE(res.empty()) << wrk->Logs();
  std::cout << fmt::format(
      "figure rollout_under_load {:.1f} s, {} requests ({} v1, {} v2), failed {}\n", rollout_secs,
      res["requests"], res["v1"], res["v2"],
      res["connect"] + res["read"] + res["write"] + res["status"] + res["timeout"] + res["other"]);
  EXPECT_GT(res["v1"], 0) << wrk->Logs();
  EXPECT_GT(res["v2"], 0) << wrk->Logs();
  for (const char* k : {"connect", "read", "write", "status", "timeout", "other"})
    EXPECT_EQ(res[k], 0) << k << "\n" << wrk->Logs();
}

TEST_F(RolloutIT, AVersionWhoseImageDoesNotExistRollsBackByItself) {
  ExpectRollsBackByItself(Version{.image = "shop-api:v404", .version = "v2"}, 1);
}

TEST_F(RolloutIT, ACrashLoopingVersionRollsBackByItself) {
  ExpectRollsBackByItself(Version{.image = "busy:v1",
                                  .command = R"(["/bin/sh", "-c", "echo crashing; exit 1"])",
                                  .version = "v2"},
                          1);
}

}  // namespace
}  // namespace berth::testing
