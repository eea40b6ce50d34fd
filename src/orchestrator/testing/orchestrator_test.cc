#include "orchestrator/testing/orchestrator_test.h"

#include <condition_variable>
#include <mutex>

#include "core/json.h"
#include "gateway/load_report.h"
#include "orchestrator/spec.h"

namespace berth::orchestrator::testing {

void OrchestratorTest::SetUp() {
  auto t = store::TempSqliteStore::Open(
      "orchestrator-test", clock_,
      {.lease_check_interval = std::chrono::milliseconds(5), .durable = false});
  ASSERT_TRUE(t) << t.error().message;
  temp_ = std::move(*t);
  store_ = &temp_->store();
  apps_ = std::make_unique<AppStore>(*store_, clock_);
}

void OrchestratorTest::TearDown() {
  controllers_.clear();
  apps_.reset();
  temp_.reset();
}

void OrchestratorTest::PutNode(const std::string& id, Resources capacity, NodeStatus status) {
  Node n;
  n.id = id;
  n.labels = {{"zone", "a"}};
  n.capacity = capacity;
  n.status = status;
  ASSERT_TRUE(store_->Put(NodeKey(id), NodeToJson(n)));
}

std::vector<Assignment> OrchestratorTest::Assignments() {
  std::vector<Assignment> out;
  for (auto& [node, list] : AssignmentsByNode()) {
    for (auto& a : list) out.push_back(std::move(a));
  }
  return out;
}

std::map<std::string, std::vector<Assignment>> OrchestratorTest::AssignmentsByNode() {
  std::map<std::string, std::vector<Assignment>> out;
  auto r = store_->Get(kNodesPrefix, {.prefix = true});
  EXPECT_TRUE(r) << r.error().message;
  if (!r) return out;
  for (const auto& kv : r->kvs) {
    auto parts = ParseNodeKey(kv.key);
    if (!parts || parts->kind != NodeKeyParts::Kind::kAssignment) continue;
    auto a = AssignmentFromJson(kv.value);
    EXPECT_TRUE(a) << a.error().message;
    if (a) out[parts->node].push_back(std::move(*a));
  }
  return out;
}

int OrchestratorTest::CountImage(std::string_view image) {
  int n = 0;
  for (const auto& a : Assignments()) n += a.spec.image == image;
  return n;
}

void OrchestratorTest::Report(const Instance& instance, InstanceState state, int64_t cpu_millis,
                              int64_t restarts) {
  InstanceStatus s{state, clock_.WallMillis(), state == InstanceState::kFailed ? "exit 1" : "",
                   cpu_millis, restarts};
  ASSERT_TRUE(store_->Put(StatusKey(instance), InstanceStatusToJson(s)));
}

void OrchestratorTest::ReportAll(InstanceState state, std::string_view image) {
  for (const auto& a : Assignments()) {
    if (image.empty() || a.spec.image == image) Report(a.instance, state);
  }
}

App OrchestratorTest::Parse(std::string_view yaml) {
  auto app = ParseAppYaml(yaml);
  EXPECT_TRUE(app) << app.error().message;
  return app ? *app : App{};
}

void OrchestratorTest::Apply(std::string_view yaml) {
  auto r = apps_->Apply(Parse(yaml), "apply");
  ASSERT_TRUE(r) << r.error().message;
}

void OrchestratorTest::PutApp(std::string_view yaml) {
  App app = Parse(yaml);
  ASSERT_TRUE(store_->Put(AppKey(app.ns, app.name), AppToJson(app)));
}

std::vector<std::string> OrchestratorTest::EventReasons(std::string_view app, std::string_view ns) {
  std::vector<std::string> out;
  auto ev = apps_->Events(ns, app);
  EXPECT_TRUE(ev) << ev.error().message;
  if (ev) {
    for (const auto& e : *ev) out.push_back(e.reason);
  }
  return out;
}

void OrchestratorTest::GatewayReports(const std::string& id,
                                      const std::map<std::string, double>& rps) {
  gateway::LoadReport report{.time_ms = clock_.WallMillis(), .window_ms = 5000};
  for (const auto& [svc, r] : rps) report.services[svc] = {.rps = r, .requests = 1000};
  ASSERT_TRUE(store_->Put(std::string(gateway::kGatewayLoadPrefix) + id,
                          gateway::EncodeLoadReport(report)));
}

Controller& OrchestratorTest::NewController(const std::string& id) {
  ControllerOptions o;
  o.id = id;
  o.lease_ttl_seconds = 6;
  controllers_.push_back(std::make_unique<Controller>(*store_, clock_, random_, o));
  return *controllers_.back();
}

TickResult OrchestratorTest::Tick(Controller& c) {
  auto r = c.Tick();
  EXPECT_TRUE(r) << r.error().message;
  return r ? std::move(*r) : TickResult{};
}

std::vector<std::string> OrchestratorTest::AdvanceTicking(Controller& c, int seconds) {
  std::vector<std::string> rolled;
  for (int i = 0; i < seconds; ++i) {
    clock_.Advance(std::chrono::seconds(1));
    TickResult r = Tick(c);
    EXPECT_TRUE(r.leading);
    rolled.insert(rolled.end(), r.rolled_back.begin(), r.rolled_back.end());
  }
  return rolled;
}

std::string OrchestratorTest::Get(std::string_view key) {
  auto r = store_->Get(key);
  return r && !r->kvs.empty() ? r->kvs[0].value : "";
}

int64_t OrchestratorTest::Revision() {
  auto r = store_->Get(kAppsPrefix, {.prefix = true});
  EXPECT_TRUE(r) << r.error().message;
  return r ? r->revision : 0;
}

std::vector<store::Event> OrchestratorTest::EventsSince(int64_t from) {
  const int64_t to = Revision();
  // Shared with the callback, which may outlive this call by a moment after Cancel.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<store::Event> events;
    int64_t seen = 0;
    bool ended = false;
  };
  auto state = std::make_shared<State>();
  auto w = store_->Watch("/", {.prefix = true, .start_revision = from},
                         [state](store::WatchResponse&& r) {
                           std::lock_guard lock(state->mu);
                           for (auto& e : r.events) {
                             state->seen = std::max(state->seen, e.kv.mod_revision);
                             state->events.push_back(std::move(e));
                           }
                           state->ended = state->ended || r.canceled || r.compacted;
                           state->cv.notify_all();
                         });
  EXPECT_TRUE(w) << w.error().message;
  if (!w) return {};
  std::vector<store::Event> out;
  {
    std::unique_lock lock(state->mu);
    EXPECT_TRUE(state->cv.wait_for(lock, std::chrono::seconds(20),
                                   [&] { return state->seen >= to || state->ended; }))
        << "the watch delivered up to revision " << state->seen << " of " << to;
    EXPECT_FALSE(state->ended);
    out = state->events;
  }
  (*w)->Cancel();
  return out;
}

}  // namespace berth::orchestrator::testing
