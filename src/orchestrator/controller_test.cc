#include "orchestrator/controller.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <thread>

#include "core/json.h"
#include "core/testing/random.h"
#include "gateway/route_store.h"
#include "orchestrator/canary.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"
#include "orchestrator/testing/orchestrator_test.h"

namespace berth::orchestrator {
namespace {

using testing::kGi;

// Controllers over the real embedded store (sqlite back-end), time driven by hand; the
// tests call Tick() instead of starting the loop thread.
class ControllerTest : public testing::OrchestratorTest {
 protected:
  ControllerTest() : OrchestratorTest(/*seed=*/11) {}
  std::string Leader() { return Get(kLeaderKey); }
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
  // v1 running, v2 applied as a canary whose instance is ready: the canary is paused.
  Controller& StartWithPausedCanary() {
    Controller& c = StartWithV1();
    Apply(V2(kCanaryWeb));
    Tick(c);
    ReportAll(InstanceState::kReady, "web/front:2");
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
  Controller& c = StartWithPausedCanary();
  const std::string v1 = Tag("web/front:1");
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

// Issue 15: after a canary abort one controller pass could still route to the stopping
// canary: the pass wrote the deletes of the canary's assignments (its agent deregisters and
// stops it) before the route that takes its share of the traffic away.
TEST_F(CanaryTest, BugAfterAnAbortOnePassStillRoutedToTheStoppingCanary) {
  Controller& c = StartWithPausedCanary();
  const std::string v1 = Tag("web/front:1");
  const std::string v2 = Tag("web/front:2");
  ASSERT_EQ(Route(), Json::array({Target(v1, 80), Target(v2, 20)}));
  std::set<std::string> canary_keys;
  for (const auto& a : Assignments()) {
    if (a.spec.image == "web/front:2") canary_keys.insert(AssignmentKey(a.instance));
  }
  ASSERT_EQ(canary_keys.size(), 1u);

  ASSERT_TRUE(apps_->Abort("default", "web", "front"));
  const int64_t from = Revision() + 1;
  Tick(c);
  // The pass's writes in order: every route of the service is all-stable before the first
  // canary stop.
  int64_t first_stop = std::numeric_limits<int64_t>::max();
  std::map<std::string, int64_t> stable_since;  // route key -> revision it went all-stable
  for (const auto& e : EventsSince(from)) {
    if (e.type == store::Event::Type::kDelete && canary_keys.count(e.kv.key)) {
      first_stop = std::min(first_stop, e.kv.mod_revision);
    }
    if (e.type == store::Event::Type::kPut && e.kv.key.starts_with("/gateway/routes/")) {
      auto j = ParseJson(e.kv.value);
      ASSERT_TRUE(j);
      if ((*j)["targets"].size() == 1) stable_since[e.kv.key] = e.kv.mod_revision;
    }
  }
  ASSERT_NE(first_stop, std::numeric_limits<int64_t>::max()) << "the canary was not stopped";
  ASSERT_EQ(stable_since.size(), 2u);  // both exposes
  for (const auto& [key, rev] : stable_since) EXPECT_LT(rev, first_stop) << key;
  EXPECT_EQ(Route(), Json::array({Target(v1, -1)}));
}

// A canary the controller aborts itself routes to stable in the same pass.
TEST_F(CanaryTest, ACanaryAbortedByTheControllerRoutesToStableInTheSamePass) {
  Controller& c = StartWithV1();
  const std::string v1 = Tag("web/front:1");
  Apply(std::string(V2(kCanaryWeb))
            .replace(V2(kCanaryWeb).find("canary: {replicas: 1}"), 21, "canary: {replicas: 2}"));
  Tick(c);
  const auto canaries = [&] {
    std::vector<Instance> out;
    for (const auto& a : Assignments())
      if (a.spec.image == "web/front:2") out.push_back(a.instance);
    return out;
  }();
  ASSERT_EQ(canaries.size(), 2u);
  for (const auto& i : canaries) Report(i, InstanceState::kReady);
  Tick(c);
  ASSERT_EQ(Record()["phase"], "paused");
  ASSERT_EQ(Route()[1]["weight"], 20);
  // One of the two fails: past the budget, the controller aborts; the other still answers.
  Report(canaries[0], InstanceState::kFailed);
  TickResult r = Tick(c);
  ASSERT_EQ(r.rolled_back, std::vector<std::string>{"default/web/front"});
  EXPECT_EQ(Route(), Json::array({Target(v1, -1)}));
}

// Issue 15: the first apply of the demo raced the local node's join, and the controller
// recorded "Unschedulable" warnings that a newcomer read as a failure.
TEST_F(ControllerTest, BugFirstApplyBeforeTheNodeJoinedWasAnUnschedulableWarning) {
  Controller& c = NewController("c");
  Apply(kWeb);
  Tick(c);
  auto status = ParseJson(Get(AppStatusKey("default", "web")));
  ASSERT_TRUE(status) << Get(AppStatusKey("default", "web"));
  const Json& front = (*status)["services"]["front"];
  EXPECT_FALSE(front.contains("unschedulable")) << front.dump();
  EXPECT_EQ(front["waiting"]["count"], 3);
  EXPECT_EQ(front["waiting"]["reason"], "waiting for a node to join the cluster");
  auto reasons = EventReasons("web");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "Unschedulable"), 0);
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "WaitingForNodes"), 1);
  Tick(c);  // still waiting: said once
  reasons = EventReasons("web");
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), "WaitingForNodes"), 1);

  PutNode("n0");
  EXPECT_EQ(Tick(c).pass->placed, 3);
  Tick(c);
  status = ParseJson(Get(AppStatusKey("default", "web")));
  ASSERT_TRUE(status);
  EXPECT_FALSE((*status)["services"].contains("front")) << status->dump();
  reasons = EventReasons("web");
  EXPECT_EQ(reasons.back(), "Scheduled");
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
  Controller& c = StartWithPausedCanary();
  const std::string v1 = Tag("web/front:1");
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
