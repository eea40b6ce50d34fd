#include "orchestrator/route_sync.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "orchestrator/canary.h"
#include "orchestrator/testing/orchestrator_test.h"

namespace berth::orchestrator {
namespace {

constexpr const char* kShop = R"(name: shop
services:
  api:
    image: shop/api:2
    ports: [8080, {name: admin, containerPort: 9090}]
    update: {canary: {replicas: 1}}
    expose: [{host: shop.local, path: /api, canaryWeight: 20}, {path: /admin, port: admin}]
)";

class RouteSyncTest : public testing::OrchestratorTest {
 protected:
  PassResult Pass(std::string_view yaml) {
    PassResult pass;
    pass.apps.push_back(Parse(yaml));
    return pass;
  }
  Instance Running(const ServiceSpec& spec, uint64_t hash, InstanceState state) {
    Instance i;
    i.id = "api-" + std::to_string(pass_instances_++);
    i.ns = "default";
    i.app = "shop";
    i.service = spec.name;
    i.node_id = "n1";
    i.deploy_hash = hash;
    i.state = state;
    return i;
  }
  static Json Routes(const std::map<std::string, std::string>& desired, const std::string& key) {
    auto it = desired.find(key);
    EXPECT_NE(it, desired.end()) << key;
    return it == desired.end() ? Json() : *ParseJson(it->second);
  }
  int pass_instances_ = 0;
};

TEST_F(RouteSyncTest, EachExposeIsARouteToTheServiceOwnedByItsApp) {
  PassResult pass = Pass(kShop);
  auto desired = DesiredRoutes(pass);
  ASSERT_EQ(desired.size(), 2u);
  Json first = Routes(desired, "/gateway/routes/default.shop.api.0");
  EXPECT_EQ(first, Json::parse(R"({"name":"default.shop.api.0","match":{"prefix":"/api"},
    "hosts":["shop.local"],"targets":[{"service":"api","namespace":"default"}],
    "owner":"app:default/shop"})"));
  // The second port by name: the target says which (the agent registers the first).
  Json second = Routes(desired, "/gateway/routes/default.shop.api.1");
  EXPECT_EQ(second["targets"], Json::parse(R"([{"service":"api","namespace":"default",
    "port":9090}])"));
  EXPECT_FALSE(second.contains("hosts"));
}

// Where a canary's route sends traffic: one target per version by deploy tag.
struct CanaryCase {
  const char* name;
  CanaryState state;
  int stable_ready, canary_ready;
  bool aborted_now = false;  // aborted in this pass (the record still says canary)
  bool collected = false;    // the record was deleted in this pass
  // The targets: "stable", "canary" or "service" (untagged), with weights (-1: none).
  std::vector<std::pair<std::string, int>> targets;
};

TEST_F(RouteSyncTest, ACanarySplitsTrafficByWeightOnlyWhileBothVersionsAreReady) {
  const CanaryCase cases[] = {
      {"both ready: split",
       CanaryState::kCanary,
       3,
       1,
       false,
       false,
       {{"stable", 80}, {"canary", 20}}},
      {"canary not ready yet: all to stable",
       CanaryState::kCanary,
       3,
       0,
       false,
       false,
       {{"stable", -1}}},
      {"stable not ready: the whole service",
       CanaryState::kCanary,
       0,
       1,
       false,
       false,
       {{"service", -1}}},
      {"aborted: all to stable", CanaryState::kAborted, 3, 1, false, false, {{"stable", -1}}},
      {"aborted in this pass: all to stable",
       CanaryState::kCanary,
       3,
       1,
       true,
       false,
       {{"stable", -1}}},
      {"promoted: the whole service",
       CanaryState::kPromoted,
       3,
       1,
       false,
       false,
       {{"service", -1}}},
      {"collected: the whole service", CanaryState::kAborted, 3, 0, false, true, {{"service", -1}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    PassResult pass = Pass(kShop);
    const ServiceSpec& spec = pass.apps[0].services[0];
    const uint64_t canary_hash = spec.DeployHash(), stable_hash = canary_hash + 1;
    pass.canaries["default/shop/api"] =
        CanaryRecord{.state = c.state, .stable_hash = stable_hash, .canary_hash = canary_hash};
    for (int i = 0; i < 3; ++i) {
      pass.instances.push_back(
          Running(spec, stable_hash,
                  i < c.stable_ready ? InstanceState::kReady : InstanceState::kStarting));
    }
    pass.instances.push_back(Running(
        spec, canary_hash, c.canary_ready ? InstanceState::kReady : InstanceState::kStarting));
    CanaryChanges changes;
    if (c.aborted_now) changes.aborted.insert("default/shop/api");
    if (c.collected) changes.collected.insert("default/shop/api");

    Json want = Json::array();
    for (const auto& [which, weight] : c.targets) {
      Json t{{"service", "api"}, {"namespace", "default"}};
      if (which != "service") {
        t["tags"] = Json::array({DeployTag(which == "stable" ? stable_hash : canary_hash)});
      }
      if (weight >= 0) t["weight"] = weight;
      want.push_back(t);
    }
    EXPECT_EQ(Routes(DesiredRoutes(pass, changes), "/gateway/routes/default.shop.api.0")["targets"],
              want);
  }
}

TEST_F(RouteSyncTest, SyncWritesTheAppsRoutesDeletesItsStaleOnesAndLeavesOthersAlone) {
  ASSERT_TRUE(store_->Put("/gateway/routes/default.shop.api.0",
                          R"({"name":"default.shop.api.0","owner":"someone"})"));
  ASSERT_TRUE(store_->Put("/gateway/routes/default.shop.old",
                          R"({"name":"default.shop.old","owner":"app:default/shop"})"));
  ASSERT_TRUE(store_->Put("/gateway/routes/hand-written", R"({"name":"hand-written"})"));
  RouteSync sync(*store_);
  sync.Sync(Pass(kShop), {}, store::Compare{.key = "/absent", .number = 0});
  // Another owner's route of the same name stays as it is.
  EXPECT_EQ(Get("/gateway/routes/default.shop.api.0"),
            R"({"name":"default.shop.api.0","owner":"someone"})");
  EXPECT_NE(Get("/gateway/routes/default.shop.api.1"), "");
  EXPECT_EQ(Get("/gateway/routes/default.shop.old"), "");  // the app no longer exposes it
  EXPECT_EQ(Get("/gateway/routes/hand-written"), R"({"name":"hand-written"})");
}

TEST_F(RouteSyncTest, SyncWritesNothingWhenItsGuardFails) {
  RouteSync sync(*store_);
  ASSERT_TRUE(store_->Put("/leader", "another"));
  sync.Sync(
      Pass(kShop), {},
      store::Compare{.key = "/leader", .target = store::Compare::Target::kValue, .value = "me"});
  EXPECT_EQ(Get("/gateway/routes/default.shop.api.0"), "");
}

}  // namespace
}  // namespace berth::orchestrator
