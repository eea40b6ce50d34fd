#include "gateway/route_store.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "gateway/router/config.h"
#include "store/testing/fake_store.h"

namespace berth::gateway {
namespace {

class RouteStoreTest : public ::testing::Test {
 protected:
  int64_t Rev() { return *store_.CurrentRevision(); }
  std::string Value(const std::string& key) {
    auto r = store_.Get(key, {});
    return r && !r->kvs.empty() ? r->kvs[0].value : "";
  }

  ManualClock clock_;
  store::testing::FakeStore store_{clock_};
  RouteStore routes_{store_};
  const int64_t initial_ = Rev();
};

TEST_F(RouteStoreTest, PutStoresTheCanonicalEntryWithItsName) {
  auto r = routes_.Put("api", R"({"match": {"prefix": "/api"}, "service": "users"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->created);
  EXPECT_TRUE(r->changed);
  auto j = ParseJson(Value("/gateway/routes/api"));
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["name"], "api");
  EXPECT_EQ((*j)["service"], "users");
  // The same again changes nothing.
  const int64_t rev = Rev();
  auto again = routes_.Put("api", R"({"service": "users", "match": {"prefix": "/api"}})");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(Rev(), rev);
}

TEST_F(RouteStoreTest, BadRoutesAreRefusedWithRouteAndFieldNamed) {
  struct Case {
    std::string name, body, want;
  };
  const std::vector<Case> cases = {
      {"api", R"({"match": {"prefix": "api"}, "service": "users"})",
       "body of route \"api\":1:22: match.prefix: must start with '/'"},
      {"api", R"({"match": {"regex": "(("}, "service": "users"})", "match.regex: invalid regex"},
      {"api", R"({"service": "users", "colour": "red"})", "colour: unknown field"},
      {"api", R"({"match": {"prefix": "/"}})", "needs one of service, upstreams or targets"},
      {"api", R"({"service": "Users_1"})", "allowed are a-z, 0-9 and '-'"},
      {"api", R"({"service": "users", "namespace": "Bad NS"})", "namespace"},
      {"api", R"({"upstreams": ["example.com:80"]})", "host must be an IP literal"},
      {"api", R"({"name": "other", "service": "users"})", "names another route"},
      {"bad name!", R"({"service": "users"})", "route name \"bad name!\""},
      {"api", R"({"service": "users", "owner": 7})", "owner: must be a string"},
      {"api", "not json", "body"},
      {"api", "", "body"},
  };
  for (const auto& c : cases) {
    auto r = routes_.Put(c.name, c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << c.body;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos)
        << c.body << " -> " << r.error().message;
  }
  EXPECT_EQ(Rev(), initial_) << "nothing was written";
}

TEST_F(RouteStoreTest, ApplyIsAllOrNothing) {
  ASSERT_TRUE(routes_.Put("keep", R"({"service": "users"})"));
  const int64_t rev = Rev();
  auto bad = routes_.Apply(R"(
routes:
  - {name: a, match: {prefix: /a}, service: users}
  - {name: b, match: {prefix: /b}, upstreams: ["127.0.0.1:99999"]}
)");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("apply:4:48: routes[1].upstreams[0]: address"),
            std::string::npos)
      << bad.error().message;
  EXPECT_EQ(Rev(), rev);
  EXPECT_EQ(Value("/gateway/routes/a"), "");

  auto good = routes_.Apply(R"(
services:
  users: {lb: least_request}
  shop/web: {lb: {policy: maglev}}
routes:
  - {name: a, match: {prefix: /a}, service: users}
  - {name: keep, service: users}
  - {name: web, hosts: [shop.local], targets: [{service: web, namespace: shop, weight: 9}, {upstreams: ["127.0.0.1:9"], weight: 1}]}
)");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(Rev(), rev + 1) << "one transaction";
  ASSERT_EQ(good->items.size(), 5u);
  EXPECT_EQ(good->items[0].action, "created");
  EXPECT_EQ(good->items[1].action, "unchanged");
  EXPECT_EQ(good->items[3].name, "shop/web");  // services in key order
  EXPECT_EQ(good->items[4].name, "default/users");
  EXPECT_NE(Value("/gateway/services/shop/web"), "");
  EXPECT_NE(Value("/gateway/services/default/users"), "");

  // Dry run: reported, not written.
  auto dry = routes_.Apply("routes: [{name: z, service: users}]", /*dry_run=*/true);
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry->items[0].action, "created");
  EXPECT_EQ(Value("/gateway/routes/z"), "");
}

TEST_F(RouteStoreTest, ApplyRefusesWhatTheStoreCannotHold) {
  for (const auto& [doc, want] : std::vector<std::pair<std::string, std::string>>{
           {"routes: [{service: users}]", "routes[0]: needs a name"},
           {"tls: {cert: a, key: b}\nroutes: [{name: a, service: users}]", "tls and access_log"},
           {"services: {users: {endpoints: [\"127.0.0.1:1\"]}}", "come from the registry"},
           {"routes: [{name: a, service: x}, {name: a, service: y}]", "duplicate route name"},
           {"routes: [{name: a", "invalid YAML"},
           {"{}", "no routes and no services"},
       }) {
    auto r = routes_.Apply(doc);
    ASSERT_FALSE(r) << doc;
    EXPECT_NE(r.error().message.find(want), std::string::npos)
        << doc << " -> " << r.error().message;
  }
  EXPECT_EQ(Rev(), initial_);
}

TEST_F(RouteStoreTest, OwnedRoutesNeedTheirOwnerOrForce) {
  ASSERT_TRUE(routes_.Put("shop.web", R"({"service": "web", "owner": "app:shop/web"})"));
  auto by_user = routes_.Put("shop.web", R"({"service": "other"})");
  ASSERT_FALSE(by_user);
  EXPECT_EQ(by_user.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(by_user.error().message.find("owned by app:shop/web"), std::string::npos);
  auto rm = routes_.Delete("shop.web");
  ASSERT_FALSE(rm);
  EXPECT_EQ(rm.error().code, ErrorCode::kFailedPrecondition);
  auto applied = routes_.Apply("routes: [{name: shop.web, service: x}]");
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code, ErrorCode::kFailedPrecondition);
  // The owner itself may change it; force overrides.
  EXPECT_TRUE(routes_.Put("shop.web", R"({"service": "web2", "owner": "app:shop/web"})"));
  EXPECT_TRUE(routes_.Delete("shop.web", /*force=*/true));
  auto gone = routes_.Get("shop.web");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
}

TEST_F(RouteStoreTest, ListGetDeleteAndServices) {
  ASSERT_TRUE(routes_.Put("b", R"({"service": "users"})"));
  ASSERT_TRUE(routes_.Put("a", R"({"upstreams": ["127.0.0.1:8080"]})"));
  auto list = routes_.List();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a");
  auto del = routes_.Delete("a");
  ASSERT_TRUE(del);
  EXPECT_EQ(*del, Rev());
  EXPECT_EQ(routes_.Delete("a").error().code, ErrorCode::kNotFound);

  auto s = routes_.PutService("shop", "web", R"({"lb": "ring_hash"})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE(routes_.PutService("shop", "web", R"({"lb": "fastest"})"));
  EXPECT_FALSE(routes_.PutService("Shop", "web", "{}"));
  auto services = routes_.ListServices();
  ASSERT_TRUE(services);
  ASSERT_EQ(services->size(), 1u);
  EXPECT_EQ((*services)[0].ns, "shop");
  EXPECT_EQ((*services)[0].service, "web");
  EXPECT_TRUE(routes_.DeleteService("shop", "web"));
  EXPECT_EQ(routes_.GetService("shop", "web").error().code, ErrorCode::kNotFound);
}

TEST(RouteEntryTest, ServiceTargetsCarryTheirRegistryNamespace) {
  auto e = router::ParseRouteEntry(
      R"({"name": "r", "targets": [{"service": "web", "namespace": "shop", "weight": 3},
                                   {"service": "api"}]})");
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_EQ(e->route->targets.size(), 2u);
  EXPECT_EQ(e->route->targets[0].cluster, "shop/web");
  EXPECT_EQ(e->route->targets[1].cluster, "api");
  ASSERT_EQ(e->clusters.size(), 2u);
  for (const auto& c : e->clusters) {
    if (c->name == "shop/web") {
      EXPECT_EQ(c->service_namespace, "shop");
      EXPECT_EQ(c->service_name, "web");
    } else {
      EXPECT_EQ(c->service_namespace, "default");
      EXPECT_EQ(c->service_name, "api");
    }
  }
  // A static routes.yaml keys a namespaced service as "ns/service".
  auto snap = router::ParseConfig(R"(
services:
  shop/web: {endpoints: ["127.0.0.1:1"]}
routes:
  - {name: r, service: web, namespace: shop}
)");
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_TRUE(snap->get()->clusters.count("shop/web"));
  EXPECT_EQ(snap->get()->clusters.at("shop/web")->endpoints.size(), 1u);
  EXPECT_FALSE(
      router::ParseConfig("routes: [{name: r, upstreams: [\"127.0.0.1:1\"], "
                          "namespace: x}]"));
}

}  // namespace
}  // namespace berth::gateway
