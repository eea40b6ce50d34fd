// The autoscaler through real processes: `berthd server` (controller + in-process gateway
// publishing request rates) and one `berthd agent` running shop-api containers under runc
// (reporting their cgroup CPU). A service with `autoscale: {metric: rps}` scales up under a
// bounded request loop through the gateway, and back down once the load stops. Deadlines are
// generous and bound the test; nothing asserts on speed. Needs root.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "core/http/client.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"
#include "tests/nodes/cluster.h"

namespace berth::testing {
namespace {

namespace orch = berth::orchestrator;
using namespace std::chrono_literals;

constexpr const char* kApp = R"(namespace: shop
name: store
services:
  api:
    image: shop-api:v1
    env: {PORT: "8081"}
    ports: [{name: http, containerPort: 8081}]
    resources: {cpu: 100m, memory: 32Mi, pids: 64}
    replicas: 1
    probes:
      readiness: {http: {path: /healthz, port: http}, period: 500ms, timeout: 400ms}
    expose: [{path: /api}]
    autoscale: {min: 1, max: 3, metric: rps, target: 5, cooldown: 5s}
)";

class AutoscaleIT : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_port_ = FreePort();
    ASSERT_TRUE(cluster_.StartServer(
        "server", {"--gateway", fmt::format("127.0.0.1:{}", gateway_port_), "--node-grace", "5s"}));
    ASSERT_TRUE(cluster_.StartAgent(0, "n1", {"--capacity", "cpu=2,memory=2Gi,pids=4096"}));
    auto app = orch::ParseAppYaml(kApp, "app.yaml");
    ASSERT_TRUE(app) << app.error().message;
    Json r = cluster_.Call("PUT", "/v1/kv" + orch::AppKey(app->ns, app->name),
                           Json{{"value", orch::AppToJson(*app)}}.dump());
    ASSERT_TRUE(r.contains("revision")) << r.dump();
  }

  Json Service() {
    Json app = cluster_.Call("GET", "/v1/apps/shop/store");
    if (!app.is_object() || !app.contains("services")) return Json::object();
    for (const auto& s : app["services"])
      if (s.value("name", "") == "api") return s;
    return Json::object();
  }
  int64_t Desired() { return Service().value("desired", int64_t{-1}); }
  int64_t Ready() { return Service().value("ready", int64_t{-1}); }
  std::vector<std::string> ScaledEvents() {
    std::vector<std::string> out;
    Json app = cluster_.Call("GET", "/v1/apps/shop/store");
    if (app.is_object() && app.contains("events")) {
      for (const auto& e : app["events"])
        if (e.value("reason", "") == "Scaled") out.push_back(e.value("message", ""));
    }
    return out;
  }
  std::string Dump() {
    return cluster_.Call("GET", "/v1/apps/shop/store").dump() +
           "\nload: " + cluster_.Call("GET", "/v1/kv/load/gateway/?prefix=1").dump();
  }

  Cluster cluster_;
  int gateway_port_ = 0;
};

TEST_F(AutoscaleIT, ScalesUpUnderLoadThroughTheGatewayAndDownWhenItStops) {
  ASSERT_TRUE(WaitFor([&] { return Ready() == 1; }, 60s)) << Dump();
  const std::string url = fmt::format("http://127.0.0.1:{}/api/products", gateway_port_);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = http::Fetch("GET", url);
        return r && r->status == 200;
      },
      30s))
      << "the gateway never routed to the service\n"
      << Dump();

  // The agent reports the container's CPU use from its cgroup (two samples, 5 s apart).
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& a : cluster_.Instances("n1"))
          if (a.contains("cpu_millis") && a["cpu_millis"].get<int64_t>() >= 0) return true;
        return false;
      },
      30s, 500ms))
      << cluster_.Call("GET", "/v1/nodes/n1").dump();

  // A bounded request loop (about 40 req/s, target 5 per instance) until the service has
  // scaled up and its new replicas are ready.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> sent{0}, ok{0};
  std::thread load([&] {
    while (!stop.load()) {
      auto r = http::Fetch("GET", url);
      sent++;
      if (r && r->status == 200) ok++;
      std::this_thread::sleep_for(25ms);
    }
  });
  bool scaled_up = WaitFor([&] { return Desired() >= 2 && Ready() >= 2; }, 60s, 500ms);
  stop = true;
  load.join();
  ASSERT_TRUE(scaled_up) << "sent " << sent << ", ok " << ok << "\n" << Dump();
  EXPECT_GT(ok.load(), 0);
  // berthd's /metrics carries the gateway's counters and the rates it publishes.
  http::Headers h;
  h.Set("Authorization", "Bearer " + cluster_.token());
  auto metrics = http::Fetch("GET", fmt::format("http://127.0.0.1:{}/metrics", cluster_.port()), {},
                             std::move(h));
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("berth_gateway_upstream_requests_total{"), std::string::npos);
  EXPECT_NE(metrics->body.find(
                "berth_gateway_service_requests_per_second{namespace=\"shop\",service=\"api\"}"),
            std::string::npos)
      << metrics->body.substr(0, 4000);
  auto events = ScaledEvents();
  ASSERT_FALSE(events.empty()) << Dump();
  EXPECT_TRUE(events.front().starts_with("scaled from 1 to ")) << events.front();
  EXPECT_NE(events.front().find("req/s per instance > target 5 req/s"), std::string::npos)
      << events.front();

  // No load: the gateway reports 0 req/s; after the cool-down the service goes back to min.
  ASSERT_TRUE(WaitFor([&] { return Desired() == 1; }, 45s, 500ms)) << Dump();
  ASSERT_TRUE(WaitFor(
      [&] {
        Json s = Service();
        return s.value("instances_total", int64_t{-1}) == 1 && s.value("ready", int64_t{-1}) == 1;
      },
      30s, 500ms))
      << Dump();
  events = ScaledEvents();
  EXPECT_NE(events.back().find("< target 5 req/s"), std::string::npos) << events.back();
  for (const auto& e : events) std::cout << "event Scaled: " << e << "\n";
}

}  // namespace
}  // namespace berth::testing
