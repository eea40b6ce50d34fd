#include "orchestrator/controller.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/json.h"
#include "core/testing/random.h"
#include "gateway/route_store.h"
#include "orchestrator/canary.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"
#include "store/sqlite/temp_store.h"

namespace berth::orchestrator {
namespace {

constexpr int64_t kGi = 1LL << 30;

// Controllers over the real embedded store (sqlite back-end), time driven by hand; the
// tests call Tick() instead of starting the loop thread.
class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempSqliteStore::Open(
        "controller-test", clock_,
        {.lease_check_interval = std::chrono::milliseconds(5), .durable = false});
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
    store_ = &temp_->store();
    apps_ = std::make_unique<AppStore>(*store_, clock_);
  }
  void TearDown() override {
    controllers_.clear();
    apps_.reset();
    temp_.reset();
  }

  Controller& NewController(const std::string& id) {
    ControllerOptions o;
    o.id = id;
    o.lease_ttl_seconds = 6;
    controllers_.push_back(std::make_unique<Controller>(*store_, clock_, random_, o));
    return *controllers_.back();
  }

  void PutNode(const std::string& id, Resources capacity = {4000, 8 * kGi, 1000}) {
    Node n;
    n.id = id;
    n.capacity = capacity;
    ASSERT_TRUE(store_->Put(NodeKey(id), NodeToJson(n)));
  }
  App Parse(std::string_view yaml) {
    auto app = ParseAppYaml(yaml);
    EXPECT_TRUE(app) << app.error().message;
    return app ? *app : App{};
  }
  void Apply(std::string_view yaml) {
    auto r = apps_->Apply(Parse(yaml), "apply");
    ASSERT_TRUE(r) << r.error().message;
  }
  std::vector<Assignment> Assignments() {
    std::vector<Assignment> out;
    auto r = store_->Get(kNodesPrefix, {.prefix = true});
    EXPECT_TRUE(r);
    for (const auto& kv : r->kvs) {
      auto parts = ParseNodeKey(kv.key);
      if (!parts || parts->kind != NodeKeyParts::Kind::kAssignment) continue;
      auto a = AssignmentFromJson(kv.value);
      if (a) out.push_back(std::move(*a));
    }
    return out;
  }
  int CountImage(std::string_view image) {
    int n = 0;
    for (const auto& a : Assignments()) n += a.spec.image == image;
    return n;
  }
  void Report(const Instance& i, InstanceState state) {
    InstanceStatus s{state, clock_.WallMillis(), state == InstanceState::kFailed ? "exit 1" : ""};
    ASSERT_TRUE(store_->Put(StatusKey(i), InstanceStatusToJson(s)));
  }
  // Reports every assignment of `image` in `state` (all when image is empty).
  void ReportAll(InstanceState state, std::string_view image = "") {
    for (const auto& a : Assignments()) {
      if (image.empty() || a.spec.image == image) Report(a.instance, state);
    }
  }
  TickResult Tick(Controller& c) {
    auto r = c.Tick();
    EXPECT_TRUE(r) << r.error().message;
    return r ? std::move(*r) : TickResult{};
  }
  // Moves time on a second at a time, ticking `c` after each (so its lease stays alive);
  // returns the controllers' services rolled back meanwhile.
  std::vector<std::string> AdvanceTicking(Controller& c, int seconds) {
    std::vector<std::string> rolled;
    for (int i = 0; i < seconds; ++i) {
      clock_.Advance(std::chrono::seconds(1));
      TickResult r = Tick(c);
      EXPECT_TRUE(r.leading);
      rolled.insert(rolled.end(), r.rolled_back.begin(), r.rolled_back.end());
    }
    return rolled;
  }
  std::string Get(std::string_view key) {
    auto r = store_->Get(key);
    return r && !r->kvs.empty() ? r->kvs[0].value : "";
  }
  std::string Leader() { return Get(kLeaderKey); }
  std::vector<std::string> EventReasons(std::string_view app) {
    std::vector<std::string> out;
    auto ev = apps_->Events("default", app);
    EXPECT_TRUE(ev);
    if (ev) {
      for (const auto& e : *ev) out.push_back(e.reason);
    }
    return out;
  }

  std::unique_ptr<store::TempSqliteStore> temp_;
  ManualClock clock_;
  store::Store* store_ = nullptr;
  SeededRandom random_{11};
  std::unique_ptr<AppStore> apps_;
  std::vector<std::unique_ptr<Controller>> controllers_;
};

constexpr const char* kWeb = R"(name: web
services:
  front:
    image: web/front:1
    replicas: 3
    resources: {cpu: 100m, memory: 64Mi}
    update: {maxSurge: 1, maxUnavailable: 0, progressDeadline: 30s}
)";

std::string V2(std::string spec) {
  spec.replace(spec.find("web/front:1"), 11, "web/front:2");
  return spec;
}

TEST_F(ControllerTest, OnlyOneOfTwoControllersLeadsAndTheOtherTakesOverWhenItStops) {
  Controller& a = NewController("a");
  Controller& b = NewController("b");
  EXPECT_TRUE(Tick(a).leading);
  EXPECT_FALSE(Tick(b).leading);
  EXPECT_TRUE(Tick(a).leading);
  EXPECT_FALSE(b.leading());
  EXPECT_EQ(Leader(), "a");
  a.Stop();
  EXPECT_FALSE(a.leading());
  EXPECT_TRUE(Tick(b).leading);
  EXPECT_EQ(Leader(), "b");
}

TEST_F(ControllerTest, ALeaderWhoseLeaseLapsedStepsDownAndCannotWrite) {
  Controller& a = NewController("a");
  Controller& b = NewController("b");
  PutNode("n1");
  ASSERT_TRUE(Tick(a).leading);
  // a stops ticking (hung); its lease lapses and the store deletes the leader key.
  clock_.Advance(std::chrono::seconds(7));
  for (int i = 0; i < 2000 && !Leader().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(Leader(), "");
  ASSERT_TRUE(Tick(b).leading);
  Apply(kWeb);
  TickResult r = Tick(a);  // its keep-alive fails: it steps down before writing anything
  EXPECT_FALSE(r.leading);
  EXPECT_FALSE(a.leading());
  EXPECT_TRUE(Assignments().empty());
  EXPECT_EQ(Tick(b).pass->placed, 3);
  EXPECT_EQ(Leader(), "b");
}

TEST_F(ControllerTest, ApplyAndScaleDriveAssignments) {
  Controller& c = NewController("c");
  for (int i = 0; i < 3; ++i) PutNode("n" + std::to_string(i));
  Apply(kWeb);
  TickResult r = Tick(c);
  ASSERT_TRUE(r.pass);
  EXPECT_EQ(r.pass->placed, 3);
  EXPECT_EQ(CountImage("web/front:1"), 3);
  ReportAll(InstanceState::kReady);
  Tick(c);
  auto scaled = apps_->Scale("default", "web", "front", 5);
  ASSERT_TRUE(scaled) << scaled.error().message;
  EXPECT_EQ(Tick(c).pass->placed, 2);
  EXPECT_EQ(CountImage("web/front:1"), 5);
  EXPECT_FALSE(apps_->Scale("default", "web", "nope", 1));
  EXPECT_FALSE(apps_->Scale("default", "nope", "front", 1));
  auto reasons = EventReasons("web");
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "Scaled"), reasons.end());
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "RolloutComplete"), reasons.end());
}

TEST_F(ControllerTest, RolloutThatMissesItsProgressDeadlineRollsBack) {
  Controller& c = NewController("c");
  for (int i = 0; i < 3; ++i) PutNode("n" + std::to_string(i));
  Apply(kWeb);
  Tick(c);
  ReportAll(InstanceState::kReady);
  Tick(c);
  Apply(V2(kWeb));
  TickResult r = Tick(c);  // surge: one v2 instance, which never gets ready
  EXPECT_EQ(CountImage("web/front:2"), 1);
  ReportAll(InstanceState::kStarting, "web/front:2");
  EXPECT_TRUE(AdvanceTicking(c, 30).empty());
  auto rolled = AdvanceTicking(c, 1);
  ASSERT_EQ(rolled.size(), 1u);
  EXPECT_EQ(rolled[0], "default/web/front");
  auto app = apps_->Get("default", "web");
  ASSERT_TRUE(app && *app);
  EXPECT_EQ((*app)->app.services[0].image, "web/front:1");
  auto hist = apps_->History("default", "web", "front");
  ASSERT_TRUE(hist);
  ASSERT_EQ(hist->size(), 3u);
  EXPECT_EQ((*hist)[2].cause.rfind("rollback to 1: no progress for 30s", 0), 0u)
      << (*hist)[2].cause;
  // The next pass replaces the v2 instance; v1 is back to 3 and the rollback completes.
  Tick(c);
  EXPECT_EQ(CountImage("web/front:2"), 0);
  EXPECT_EQ(CountImage("web/front:1"), 3);
  Tick(c);
  auto reasons = EventReasons("web");
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "RolloutFailed"), reasons.end());
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "RolledBack"), reasons.end());
  auto rec = ParseJson(Get(RolloutKey("default", "web", "front")));
  ASSERT_TRUE(rec);
  EXPECT_EQ((*rec)["phase"], "complete");
  EXPECT_EQ((*rec)["is_rollback"], true);
}

TEST_F(ControllerTest, FailedNewInstancesRollBackAtOnce) {
  Controller& c = NewController("c");
  for (int i = 0; i < 3; ++i) PutNode("n" + std::to_string(i));
  Apply(kWeb);
  Tick(c);
  ReportAll(InstanceState::kReady);
  Tick(c);
  Apply(V2(kWeb));
  Tick(c);
  ReportAll(InstanceState::kFailed, "web/front:2");  // e.g. the image does not exist
  TickResult r = Tick(c);
  ASSERT_EQ(r.rolled_back.size(), 1u);
  auto app = apps_->Get("default", "web");
  ASSERT_TRUE(app && *app);
  EXPECT_EQ((*app)->app.services[0].image, "web/front:1");
  Tick(c);
  EXPECT_EQ(CountImage("web/front:2"), 0);
  EXPECT_EQ(CountImage("web/front:1"), 3);
}

TEST_F(ControllerTest, CrashLoopingNewInstancesRollBackWithoutWaitingForTheDeadline) {
  Controller& c = NewController("c");
  for (int i = 0; i < 3; ++i) PutNode("n" + std::to_string(i));
  Apply(kWeb);
  Tick(c);
  // v1 restarted often before (not during) the rollout: that never counts against it.
  auto report = [&](std::string_view image, InstanceState state, int64_t restarts) {
    for (const auto& a : Assignments()) {
      if (a.spec.image != image) continue;
      InstanceStatus s{state, clock_.WallMillis(), ""};
      s.restarts = restarts;
      ASSERT_TRUE(store_->Put(StatusKey(a.instance), InstanceStatusToJson(s)));
    }
  };
  report("web/front:1", InstanceState::kReady, 7);
  Tick(c);
  Apply(V2(kWeb));
  Tick(c);  // surge: one v2 instance
  ASSERT_EQ(CountImage("web/front:2"), 1);
  report("web/front:2", InstanceState::kUnready, 2);  // exited twice, restarting
  EXPECT_TRUE(Tick(c).rolled_back.empty());
  report("web/front:2", InstanceState::kStarting, 3);
  TickResult r = Tick(c);
  ASSERT_EQ(r.rolled_back.size(), 1u);
  auto hist = apps_->History("default", "web", "front");
  ASSERT_TRUE(hist);
  ASSERT_EQ(hist->size(), 3u);
  EXPECT_NE((*hist)[2].cause.find("1 new instance failed (budget 1)"), std::string::npos)
      << (*hist)[2].cause;
  EXPECT_NE((*hist)[2].cause.find("restarted 3 times (crash loop)"), std::string::npos)
      << (*hist)[2].cause;
  // The rollback replaces the v2 instance and completes, v1's old restarts notwithstanding.
  Tick(c);
  EXPECT_EQ(CountImage("web/front:2"), 0);
  EXPECT_EQ(CountImage("web/front:1"), 3);
  Tick(c);
  auto rec = ParseJson(Get(RolloutKey("default", "web", "front")));
  ASSERT_TRUE(rec);
  EXPECT_EQ((*rec)["phase"], "complete") << rec->dump();
  EXPECT_EQ((*rec)["is_rollback"], true);
}

TEST_F(ControllerTest, UndoGoesBackToThePreviousVersion) {
  Controller& c = NewController("c");
  PutNode("n0");
  Apply(kWeb);
  Apply(V2(kWeb));
  auto u = apps_->Undo("default", "web", "front", 0);
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->action, "configured");
  auto app = apps_->Get("default", "web");
  EXPECT_EQ((*app)->app.services[0].image, "web/front:1");
  auto to3 = apps_->Undo("default", "web", "front", 2);
  ASSERT_TRUE(to3);
  EXPECT_EQ((*apps_->Get("default", "web"))->app.services[0].image, "web/front:2");
  EXPECT_FALSE(apps_->Undo("default", "web", "front", 42));
  Tick(c);
  EXPECT_EQ(CountImage("web/front:2"), 3);
}

TEST_F(ControllerTest, ExposeWritesGatewayRoutesAndRemovesThemWithTheApp) {
  Controller& c = NewController("c");
  PutNode("n0");
  ASSERT_TRUE(store_->Put("/gateway/routes/mine", R"({"name":"mine","targets":[]})"));
  Apply(R"(namespace: shop
name: shop
services:
  api:
    image: shop/api:1
    ports: [{name: http, containerPort: 8080}]
    expose: [{host: shop.local, path: /api, port: http}]
  web:
    image: shop/web:1
    ports: [80]
    expose: [{path: /}, {host: www.shop.local, path: /}]
)");
  Tick(c);
  auto api = ParseJson(Get("/gateway/routes/shop.shop.api"));
  ASSERT_TRUE(api) << Get("/gateway/routes/shop.shop.api");
  EXPECT_EQ((*api)["owner"], "app:shop/shop");
  EXPECT_EQ((*api)["hosts"], Json::array({"shop.local"}));
  EXPECT_EQ((*api)["match"]["prefix"], "/api");
  EXPECT_EQ((*api)["targets"][0], (Json{{"service", "api"}, {"namespace", "shop"}}));
  EXPECT_NE(Get("/gateway/routes/shop.shop.web.0"), "");
  EXPECT_NE(Get("/gateway/routes/shop.shop.web.1"), "");
  // Each is a route the gateway reads, stored in its canonical form.
  for (std::string name : {"shop.shop.api", "shop.shop.web.0", "shop.shop.web.1"}) {
    auto canonical = gateway::CanonicalRoute(name, Get("/gateway/routes/" + name));
    ASSERT_TRUE(canonical) << name << ": " << canonical.error().message;
    EXPECT_EQ(canonical->json, Get("/gateway/routes/" + name));
    EXPECT_EQ(canonical->owner, "app:shop/shop");
  }
  Tick(c);
  auto rev = store_->CurrentRevision();
  Tick(c);  // nothing changed: nothing written
  EXPECT_EQ(*store_->CurrentRevision(), *rev);
  ASSERT_TRUE(apps_->Delete("shop", "shop"));
  Tick(c);
  auto left = store_->Get("/gateway/routes/", {.prefix = true});
  ASSERT_EQ(left->kvs.size(), 1u);
  EXPECT_EQ(left->kvs[0].key, "/gateway/routes/mine");
}

constexpr const char* kCanaryWeb = R"(name: web
services:
  front:
    image: web/front:1
    replicas: 3
    ports: [80, {name: admin, containerPort: 9090}]
    resources: {cpu: 100m, memory: 64Mi}
    update: {maxSurge: 1, maxUnavailable: 0, progressDeadline: 30s, canary: {replicas: 1}}
    expose: [{path: /, canaryWeight: 20}, {path: /admin, port: admin, canaryWeight: 20}]
)";

// Canary tests: v1 running and ready on three nodes, then v2 applied.
class CanaryTest : public ControllerTest {
 protected:
  Controller& StartWithV1() {
    Controller& c = NewController("c");
    for (int i = 0; i < 3; ++i) PutNode("n" + std::to_string(i));
    Apply(kCanaryWeb);
    Tick(c);
    ReportAll(InstanceState::kReady);
    Tick(c);
    return c;
  }
  Json Route(const std::string& name = "default.web.front.0") {
    auto j = ParseJson(Get("/gateway/routes/" + name));
    EXPECT_TRUE(j) << name;
    return j ? (*j)["targets"] : Json();
  }
  Json Record() {
    auto j = ParseJson(Get(RolloutKey("default", "web", "front")));
    return j ? *j : Json();
  }
  static Json Target(const std::string& tag, int weight, int port = 0) {
    Json t{{"service", "front"}, {"namespace", "default"}};
    if (!tag.empty()) t["tags"] = Json::array({tag});
    if (weight >= 0) t["weight"] = weight;
    if (port) t["port"] = port;
    return t;
  }
  std::string Tag(std::string_view image) {
    for (const auto& a : Assignments()) {
      if (a.spec.image == image) return DeployTag(a.instance.deploy_hash);
    }
    return "none";
  }
  std::string CanaryRecordText() { return Get(CanaryKey("default", "web", "front")); }
};

TEST_F(CanaryTest, NewVersionStartsBesideStableGetsItsWeightAndWaitsForPromotion) {
  Controller& c = StartWithV1();
  EXPECT_EQ(Route(), Json::array({Target("", -1)}));
  // expose.port: the admin route targets container port 9090, not the registered 80.
  EXPECT_EQ(Route("default.web.front.1"), Json::array({Target("", -1, 9090)}));
  const std::string v1 = Tag("web/front:1");

  Apply(V2(kCanaryWeb));
  Tick(c);
  EXPECT_EQ(CountImage("web/front:1"), 3) << "no stable instance stops for a canary";
  EXPECT_EQ(CountImage("web/front:2"), 1);
  const std::string v2 = Tag("web/front:2");
  EXPECT_NE(CanaryRecordText(), "");
  // The canary is not ready yet: everything on stable.
  EXPECT_EQ(Route(), Json::array({Target(v1, -1)}));
  EXPECT_EQ(Record()["phase"], "progressing");
  EXPECT_EQ(Record()["strategy"], "canary");

  ReportAll(InstanceState::kReady, "web/front:2");
  Tick(c);
  EXPECT_EQ(Record()["phase"], "paused");
  EXPECT_EQ(Record()["canary"]["state"], "canary");
  EXPECT_EQ(Record()["canary"]["stable_available"], 3);
  EXPECT_EQ(Route(), Json::array({Target(v1, 80), Target(v2, 20)}));
  EXPECT_EQ(Route("default.web.front.1"),
            Json::array({Target(v1, 80, 9090), Target(v2, 20, 9090)}));
  for (std::string name : {"default.web.front.0", "default.web.front.1"}) {
    auto canonical = gateway::CanonicalRoute(name, Get("/gateway/routes/" + name));
    ASSERT_TRUE(canonical) << name << ": " << canonical.error().message;
    EXPECT_EQ(canonical->json, Get("/gateway/routes/" + name));
  }

  // Paused past the progress deadline: nothing fails, nothing moves.
  EXPECT_TRUE(AdvanceTicking(c, 45).empty());
  EXPECT_EQ(Record()["phase"], "paused");
  EXPECT_EQ(CountImage("web/front:1"), 3);
  EXPECT_EQ(CountImage("web/front:2"), 1);

  // A stable instance that dies is replaced with the stable version.
  for (const auto& a : Assignments()) {
    if (a.spec.image == "web/front:1") {
      Report(a.instance, InstanceState::kFailed);
      break;
    }
  }
  Tick(c);
  EXPECT_EQ(CountImage("web/front:1"), 3);
  EXPECT_EQ(CountImage("web/front:2"), 1);
  ReportAll(InstanceState::kReady, "web/front:1");
  Tick(c);
  EXPECT_EQ(Record()["phase"], "paused");

  auto p = apps_->Promote("default", "web", "front");
  ASSERT_TRUE(p) << p.error().message;
  auto again = apps_->Promote("default", "web", "front");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(again.error().message.find("promoted already"), std::string::npos);
  // The rest rolls out (maxSurge 1, maxUnavailable 0); traffic follows the instances.
  for (int i = 0; i < 20 && CountImage("web/front:1") > 0; ++i) {
    Tick(c);
    ReportAll(InstanceState::kReady, "web/front:2");
    EXPECT_EQ(Route(), Json::array({Target("", -1)}));
  }
  EXPECT_EQ(CountImage("web/front:1"), 0);
  EXPECT_EQ(CountImage("web/front:2"), 3);
  Tick(c);
  Tick(c);
  EXPECT_EQ(Record()["phase"], "complete");
  EXPECT_EQ(CanaryRecordText(), "") << "a finished canary's record goes";
  EXPECT_EQ(Route(), Json::array({Target("", -1)}));
  auto reasons = EventReasons("web");
  for (auto want : {"CanaryReady", "CanaryPromoted", "RolloutComplete"}) {
    EXPECT_NE(std::find(reasons.begin(), reasons.end(), want), reasons.end()) << want;
  }
}

TEST_F(CanaryTest, AbortRemovesTheCanaryAndSendsEveryRequestToStable) {
  Controller& c = StartWithV1();
  const std::string v1 = Tag("web/front:1");
  Apply(V2(kCanaryWeb));
  Tick(c);
  ReportAll(InstanceState::kReady, "web/front:2");
  Tick(c);
  ASSERT_EQ(Record()["phase"], "paused");
  // A canary that stops being ready takes its share off the gateway (no 503s for it).
  const std::string v2 = Tag("web/front:2");
  ReportAll(InstanceState::kUnready, "web/front:2");
  Tick(c);
  EXPECT_EQ(Route(), Json::array({Target(v1, -1)}));
  ReportAll(InstanceState::kReady, "web/front:2");
  Tick(c);
  EXPECT_EQ(Route(), Json::array({Target(v1, 80), Target(v2, 20)}));

  auto a = apps_->Abort("default", "web", "front");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ((*apps_->Get("default", "web"))->app.services[0].image, "web/front:1");
  // Stable keeps its replicas: nothing new starts, the canary stops, all traffic to stable.
  Tick(c);
  EXPECT_EQ(CountImage("web/front:2"), 0);
  EXPECT_EQ(CountImage("web/front:1"), 3);
  EXPECT_EQ(Route(), Json::array({Target(v1, -1)}));
  Tick(c);
  EXPECT_EQ(CanaryRecordText(), "");
  EXPECT_EQ(Route(), Json::array({Target("", -1)}));
  auto second = apps_->Abort("default", "web", "front");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(apps_->Promote("default", "web", "front"));
  auto reasons = EventReasons("web");
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "CanaryAborted"), reasons.end());
  auto hist = apps_->History("default", "web", "front");
  ASSERT_TRUE(hist);
  EXPECT_EQ(hist->back().cause, "canary aborted");
}

TEST_F(CanaryTest, FailedCanaryIsAbortedByItself) {
  Controller& c = StartWithV1();
  Apply(V2(kCanaryWeb));
  Tick(c);
  ReportAll(InstanceState::kFailed, "web/front:2");
  TickResult r = Tick(c);
  ASSERT_EQ(r.rolled_back, std::vector<std::string>{"default/web/front"});
  EXPECT_EQ((*apps_->Get("default", "web"))->app.services[0].image, "web/front:1");
  Tick(c);
  EXPECT_EQ(CountImage("web/front:2"), 0);
  EXPECT_EQ(CountImage("web/front:1"), 3);
  Tick(c);
  EXPECT_EQ(CanaryRecordText(), "");
  EXPECT_EQ(Record()["is_rollback"], true);
}

// The canary's state is in the store: a new leader neither rolls the canary out nor fails
// it, and promotion through it completes.
TEST_F(CanaryTest, ANewLeaderKeepsThePausedCanaryAndPromotes) {
  Controller& c = StartWithV1();
  const std::string v1 = Tag("web/front:1");
  Apply(V2(kCanaryWeb));
  Tick(c);
  ReportAll(InstanceState::kReady, "web/front:2");
  Tick(c);
  ASSERT_EQ(Record()["phase"], "paused");
  const std::string v2 = Tag("web/front:2");
  c.Stop();
  Controller& d = NewController("d");
  EXPECT_TRUE(Tick(d).leading);
  EXPECT_TRUE(AdvanceTicking(d, 45).empty());
  EXPECT_EQ(Record()["phase"], "paused");
  EXPECT_EQ(Record()["strategy"], "canary");
  EXPECT_EQ(CountImage("web/front:1"), 3);
  EXPECT_EQ(CountImage("web/front:2"), 1);
  EXPECT_EQ(Route(), Json::array({Target(v1, 80), Target(v2, 20)}));
  ASSERT_TRUE(apps_->Promote("default", "web", "front"));
  for (int i = 0; i < 20 && CountImage("web/front:1") > 0; ++i) {
    Tick(d);
    ReportAll(InstanceState::kReady, "web/front:2");
  }
  Tick(d);
  EXPECT_EQ(CountImage("web/front:2"), 3);
  EXPECT_EQ(Record()["phase"], "complete");
  EXPECT_EQ(CanaryRecordText(), "");
}

TEST_F(CanaryTest, ReapplyingTheStableVersionEndsTheCanary) {
  Controller& c = StartWithV1();
  Apply(V2(kCanaryWeb));
  Tick(c);
  ASSERT_EQ(CountImage("web/front:2"), 1);
  Apply(kCanaryWeb);
  auto rec = apps_->Canary("default", "web", "front");
  ASSERT_TRUE(rec && *rec);
  EXPECT_EQ((*rec)->state, CanaryState::kAborted);
  Tick(c);
  EXPECT_EQ(CountImage("web/front:2"), 0);
  EXPECT_EQ(CountImage("web/front:1"), 3);
}

TEST_F(ControllerTest, DryRunStoresNothingAndShowsTheDiff) {
  Apply(kWeb);
  auto rev = store_->CurrentRevision();
  auto r = apps_->Apply(Parse(V2(kWeb)), "apply", /*dry_run=*/true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*store_->CurrentRevision(), *rev);
  EXPECT_EQ(r->action, "configured");
  ASSERT_EQ(r->diff.size(), 1u);
  EXPECT_EQ(r->diff[0].path, "services.front.image");
  EXPECT_EQ(r->diff[0].before, "\"web/front:1\"");
  EXPECT_EQ(r->diff[0].after, "\"web/front:2\"");
  EXPECT_EQ(r->rolling, std::vector<std::string>{"front"});
  EXPECT_EQ((*apps_->Get("default", "web"))->app.services[0].image, "web/front:1");
  auto same = apps_->Apply(Parse(kWeb), "apply");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->action, "unchanged");
  EXPECT_EQ(*store_->CurrentRevision(), *rev);
}

TEST_F(ControllerTest, UnschedulableReasonIsRecordedAndTheRunningVersionKeepsRunning) {
  Controller& c = NewController("c");
  PutNode("n0", {4000, 2 * kGi, 1000});
  Apply(kWeb);
  Tick(c);
  ReportAll(InstanceState::kReady);
  Tick(c);
  std::string big = V2(kWeb);
  big.replace(big.find("memory: 64Mi"), 12, "memory: 8Gi");
  Apply(big);
  Tick(c);
  auto status = ParseJson(Get(AppStatusKey("default", "web")));
  ASSERT_TRUE(status);
  std::string reason = (*status)["services"]["front"]["unschedulable"].value("reason", "");
  EXPECT_EQ(reason.rfind("no node has 8 GiB memory free", 0), 0u) << reason;
  EXPECT_EQ(CountImage("web/front:1"), 3);  // maxUnavailable 0: nothing old stops
  auto reasons = EventReasons("web");
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "Unschedulable"), reasons.end());
}

}  // namespace
}  // namespace berth::orchestrator
