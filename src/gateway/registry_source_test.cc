#include "gateway/registry_source.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "gateway/route_store.h"
#include "store/testing/fake_store.h"

namespace berth::gateway {
namespace {

using namespace std::chrono_literals;

registry::Instance Make(std::string ns, std::string service, std::string id, std::string address,
                        uint32_t port, uint32_t weight = 1) {
  registry::Instance in;
  in.ns = std::move(ns);
  in.service = std::move(service);
  in.id = std::move(id);
  in.address = std::move(address);
  in.port = port;
  in.weight = weight;
  return in;
}

class RegistrySourceTest : public ::testing::Test {
 protected:
  void Start() {
    source_ = std::make_unique<RegistryEndpointSource>(store_, registry_,
                                                       RegistrySourceOptions{.debounce = 1ms});
    auto r = source_->Start([this](router::SnapshotPtr s) {
      std::lock_guard lock(mu_);
      last_ = std::move(s);
      cv_.notify_all();
    });
    ASSERT_TRUE(r) << r.error().message;
  }
  void TearDown() override {
    if (source_) source_->Stop();
  }

  // Waits (bounded: "never happened") until the latest snapshot satisfies `pred`.
  bool WaitSnapshot(const std::function<bool(const router::Snapshot&)>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 30s, [&] { return last_ && pred(*last_); });
  }

  // "address(weight)" of a cluster's endpoints, or "none" when the cluster is absent.
  static std::string Endpoints(const router::Snapshot& s, const std::string& cluster) {
    auto it = s.clusters.find(cluster);
    if (it == s.clusters.end()) return "none";
    std::string out;
    for (const auto& e : it->second->endpoints) {
      if (!out.empty()) out += " ";
      out += e.address + "(" + std::to_string(e.weight) + ")";
    }
    return out;
  }

  ManualClock clock_;
  store::testing::FakeStore store_{clock_};
  registry::Registry registry_{store_, clock_};
  RouteStore routes_{store_};
  std::unique_ptr<RegistryEndpointSource> source_;
  std::mutex mu_;
  std::condition_variable cv_;
  router::SnapshotPtr last_;
};

TEST_F(RegistrySourceTest, ServiceTargetsGetThePassingInstancesOfTheirService) {
  ASSERT_TRUE(routes_.Put("web", R"({"match": {"prefix": "/"}, "service": "web",
                                     "namespace": "shop"})"));
  ASSERT_TRUE(registry_.Register(Make("shop", "web", "w1", "10.0.0.1", 80, 3)));
  ASSERT_TRUE(registry_.Register(Make("shop", "web", "w2", "10.0.0.2", 80)));
  ASSERT_TRUE(registry_.Register(Make("default", "web", "other", "10.0.0.9", 80)));
  Start();
  // The first snapshot arrives before Start returns.
  {
    std::lock_guard lock(mu_);
    ASSERT_TRUE(last_);
    EXPECT_EQ(Endpoints(*last_, "shop/web"), "10.0.0.1:80(3) 10.0.0.2:80(1)");
    ASSERT_EQ(last_->routes.size(), 1u);
    EXPECT_EQ(last_->routes[0]->targets[0].cluster, "shop/web");
  }
  // Critical leaves; passing again comes back; deregistered leaves.
  ASSERT_TRUE(registry_.SetHealth("shop", "web", "w1", registry::Health::kCritical, "down"));
  EXPECT_TRUE(
      WaitSnapshot([](const auto& s) { return Endpoints(s, "shop/web") == "10.0.0.2:80(1)"; }));
  ASSERT_TRUE(registry_.SetHealth("shop", "web", "w1", registry::Health::kPassing, "ok"));
  EXPECT_TRUE(WaitSnapshot(
      [](const auto& s) { return Endpoints(s, "shop/web") == "10.0.0.1:80(3) 10.0.0.2:80(1)"; }));
  ASSERT_TRUE(registry_.Deregister("shop", "web", "w2"));
  EXPECT_TRUE(
      WaitSnapshot([](const auto& s) { return Endpoints(s, "shop/web") == "10.0.0.1:80(3)"; }));
  // A new instance joins.
  ASSERT_TRUE(registry_.Register(Make("shop", "web", "w3", "::1", 8080)));
  EXPECT_TRUE(WaitSnapshot(
      [](const auto& s) { return Endpoints(s, "shop/web") == "10.0.0.1:80(3) [::1]:8080(1)"; }));
  EXPECT_GE(source_->stats().snapshots, 5u);
}

TEST_F(RegistrySourceTest, RouteAndSettingsChangesArriveAndBadEntriesAreLeftOut) {
  ASSERT_TRUE(registry_.Register(Make("default", "api", "a1", "127.0.0.1", 9001)));
  Start();
  {
    std::lock_guard lock(mu_);
    ASSERT_TRUE(last_);
    EXPECT_TRUE(last_->routes.empty());
  }
  ASSERT_TRUE(routes_.Put("api", R"({"match": {"prefix": "/api"}, "service": "api"})"));
  EXPECT_TRUE(WaitSnapshot([](const auto& s) {
    return s.routes.size() == 1 && Endpoints(s, "api") == "127.0.0.1:9001(1)";
  }));
  ASSERT_TRUE(routes_.PutService("default", "api", R"({"lb": "least_request"})"));
  EXPECT_TRUE(WaitSnapshot([](const auto& s) {
    auto it = s.clusters.find("api");
    return it != s.clusters.end() && it->second->policy == lb::Policy::kLeastRequest &&
           it->second->endpoints.size() == 1;
  }));
  // Written around the API: does not parse, left out; the good route stays.
  ASSERT_TRUE(store_.Put("/gateway/routes/broken", R"({"name": "broken", "match": 5})", {}));
  ASSERT_TRUE(routes_.Put("root", R"({"upstreams": ["127.0.0.1:9002"]})"));
  EXPECT_TRUE(WaitSnapshot([](const auto& s) { return s.routes.size() == 2; }));
  EXPECT_EQ(source_->stats().invalid_routes, 1u);
  ASSERT_TRUE(routes_.Delete("api"));
  EXPECT_TRUE(WaitSnapshot([](const auto& s) {
    return s.routes.size() == 1 && s.routes[0]->name == "root" && !s.clusters.count("api");
  }));
}

// The form the orchestrator writes for an `expose` (contract 2 of the session), written
// straight to the store as it does.
TEST_F(RegistrySourceTest, OrchestratorExposeRoutesGetTheirAppInstances) {
  ASSERT_TRUE(store_.Put("/gateway/routes/shop.shop.api",
                         R"({"hosts":["shop.local"],"match":{"prefix":"/api"},)"
                         R"("name":"shop.shop.api","owner":"app:shop/shop",)"
                         R"("targets":[{"namespace":"shop","service":"api"}]})",
                         {}));
  ASSERT_TRUE(registry_.Register(Make("shop", "api", "i1", "100.64.0.7", 8080, 2)));
  Start();
  std::lock_guard lock(mu_);
  ASSERT_TRUE(last_);
  ASSERT_EQ(last_->routes.size(), 1u);
  EXPECT_EQ(last_->routes[0]->hosts, std::vector<std::string>{"shop.local"});
  EXPECT_EQ(Endpoints(*last_, "shop/api"), "100.64.0.7:8080(2)");
  EXPECT_EQ(source_->stats().invalid_routes, 0u);
}

// What the orchestrator writes during a canary: one target per version of the service,
// selected by the agent's `deploy=<hash>` tag.
TEST_F(RegistrySourceTest, TaggedTargetsGetOnlyTheInstancesCarryingEveryTag) {
  ASSERT_TRUE(routes_.Put("web", R"({"match": {"prefix": "/"}, "targets": [
      {"service": "web", "namespace": "shop", "tags": ["deploy=aa"], "weight": 90},
      {"service": "web", "namespace": "shop", "tags": ["deploy=bb", "app=shop"], "weight": 10},
      {"service": "web", "namespace": "shop", "tags": ["deploy=aa"], "port": 9090, "weight": 1}]})"));
  ASSERT_TRUE(routes_.PutService("shop", "web", R"({"lb": "least_request"})"));
  auto tagged = [](std::string id, std::string address, std::vector<std::string> tags) {
    auto in = Make("shop", "web", std::move(id), std::move(address), 80);
    in.tags = std::move(tags);
    return in;
  };
  ASSERT_TRUE(registry_.Register(tagged("s1", "10.0.0.1", {"app=shop", "deploy=aa"})));
  ASSERT_TRUE(registry_.Register(tagged("s2", "10.0.0.2", {"app=shop", "deploy=aa"})));
  ASSERT_TRUE(registry_.Register(tagged("c1", "10.0.0.3", {"app=shop", "deploy=bb"})));
  ASSERT_TRUE(registry_.Register(tagged("x1", "10.0.0.4", {"deploy=bb"})));  // no app=shop
  Start();
  {
    std::lock_guard lock(mu_);
    ASSERT_TRUE(last_);
    EXPECT_EQ(Endpoints(*last_, "shop/web[deploy=aa]"), "10.0.0.1:80(1) 10.0.0.2:80(1)");
    EXPECT_EQ(Endpoints(*last_, "shop/web[app=shop,deploy=bb]"), "10.0.0.3:80(1)");
    EXPECT_EQ(Endpoints(*last_, "shop/web[deploy=aa]:9090"), "10.0.0.1:9090(1) 10.0.0.2:9090(1)");
    // The service's settings apply to every part of it.
    EXPECT_EQ(last_->clusters.at("shop/web[app=shop,deploy=bb]")->policy,
              lb::Policy::kLeastRequest);
  }
  // A new version's instance joins its own target only.
  ASSERT_TRUE(registry_.Register(tagged("c2", "10.0.0.5", {"app=shop", "deploy=bb"})));
  EXPECT_TRUE(WaitSnapshot([](const auto& s) {
    return Endpoints(s, "shop/web[app=shop,deploy=bb]") == "10.0.0.3:80(1) 10.0.0.5:80(1)" &&
           Endpoints(s, "shop/web[deploy=aa]") == "10.0.0.1:80(1) 10.0.0.2:80(1)";
  }));
}

TEST_F(RegistrySourceTest, StoredRoutesAreOrderedMostSpecificFirst) {
  ASSERT_TRUE(routes_.Apply(R"(
routes:
  - {name: a-root, match: {prefix: /}, upstreams: ["127.0.0.1:1"]}
  - {name: b-api, match: {prefix: /api}, upstreams: ["127.0.0.1:2"]}
  - {name: c-api-get, match: {prefix: /api, methods: [GET]}, upstreams: ["127.0.0.1:3"]}
  - {name: d-exact, match: {exact: /api/health}, upstreams: ["127.0.0.1:4"]}
  - {name: e-regex, match: {regex: "/api/v[0-9]+/.*"}, upstreams: ["127.0.0.1:5"]}
)"));
  Start();
  std::lock_guard lock(mu_);
  ASSERT_TRUE(last_);
  std::vector<std::string> order;
  for (const auto& r : last_->routes) order.push_back(r->name);
  EXPECT_EQ(order,
            (std::vector<std::string>{"d-exact", "e-regex", "c-api-get", "b-api", "a-root"}));
}

}  // namespace
}  // namespace berth::gateway
