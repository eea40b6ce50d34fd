#include "registry/registry.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "registry/watch_hub.h"
#include "store/testing/fake_store.h"

namespace berth::registry {
namespace {

using namespace std::chrono_literals;

Instance Make(std::string service, std::string id, int64_t ttl = 0,
              std::vector<std::string> tags = {}) {
  Instance in;
  in.service = std::move(service);
  in.id = std::move(id);
  in.address = "10.0.0.1";
  in.port = 8080;
  in.ttl_seconds = ttl;
  in.tags = std::move(tags);
  return in;
}

class RegistryTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  store::testing::FakeStore store_{clock_};
  Registry registry_{store_, clock_};

  int64_t Rev() { return *store_.CurrentRevision(); }
};

TEST_F(RegistryTest, RegisterIsIdempotent) {
  auto a = registry_.Register(Make("web", "w1", 10));
  ASSERT_TRUE(a.has_value()) << a.error().message;
  int64_t rev = Rev();
  auto b = registry_.Register(Make("web", "w1", 10));
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(Rev(), rev);
  EXPECT_EQ(b->revision, a->revision);
  EXPECT_EQ(b->lease, a->lease);
}

TEST_F(RegistryTest, UpdateKeepsLeaseAndHealth) {
  auto a = registry_.Register(Make("web", "w1", 10));
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(registry_.SetHealth("default", "web", "w1", Health::kWarning, "slow").has_value());
  auto in = Make("web", "w1", 10, {"v2"});
  auto b = registry_.Register(in);
  ASSERT_TRUE(b.has_value());
  EXPECT_GT(b->revision, a->revision);
  EXPECT_EQ(b->lease, a->lease);
  EXPECT_EQ(b->health, Health::kWarning);
  EXPECT_EQ(b->tags, std::vector<std::string>{"v2"});
}

TEST_F(RegistryTest, InstanceWithoutHeartbeatExpiresWithItsLease) {
  ASSERT_TRUE(registry_.Register(Make("web", "w1", 5)).has_value());
  clock_.Advance(4s);
  ASSERT_TRUE(registry_.Heartbeat("default", "web", "w1").has_value());
  clock_.Advance(4s);
  store_.ExpireLeases();
  EXPECT_TRUE(registry_.GetInstance("default", "web", "w1").has_value());
  clock_.Advance(2s);
  store_.ExpireLeases();
  auto gone = registry_.GetInstance("default", "web", "w1");
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  auto hb = registry_.Heartbeat("default", "web", "w1");
  ASSERT_FALSE(hb.has_value());
  EXPECT_EQ(hb.error().code, ErrorCode::kNotFound);
}

// Regression: ListInstances skipped every instance with neither a lease nor
// deregister_after (an optimisation meant for the sweep), so the health leader never checked
// them after a restart and the gateway's first endpoint list missed them.
TEST_F(RegistryTest, ListInstancesReturnsInstancesWithoutLeaseOrDeregisterAfter) {
  ASSERT_TRUE(registry_.Register(Make("web", "plain")).has_value());
  ASSERT_TRUE(registry_.Register(Make("web", "leased", 10)).has_value());
  auto all = registry_.ListInstances("");
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->instances.size(), 2u);
  EXPECT_EQ(all->instances[0].id, "leased");
  EXPECT_EQ(all->instances[1].id, "plain");
  EXPECT_TRUE(registry_.Sweep().has_value());
}

TEST_F(RegistryTest, HeartbeatWithoutTtlIsAPreconditionFailure) {
  ASSERT_TRUE(registry_.Register(Make("web", "w1")).has_value());
  auto hb = registry_.Heartbeat("default", "web", "w1");
  ASSERT_FALSE(hb.has_value());
  EXPECT_EQ(hb.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(RegistryTest, DeregisterRemovesAndRevokes) {
  auto a = registry_.Register(Make("web", "w1", 30));
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(registry_.Deregister("default", "web", "w1").has_value());
  EXPECT_EQ(registry_.GetInstance("default", "web", "w1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_.LeaseTimeToLive(a->lease, false)->ttl, -1);
  EXPECT_EQ(registry_.Deregister("default", "web", "w1").error().code, ErrorCode::kNotFound);
}

TEST_F(RegistryTest, GetServiceFiltersByTagAndHealth) {
  ASSERT_TRUE(registry_.Register(Make("web", "a", 0, {"blue", "v1"})).has_value());
  ASSERT_TRUE(registry_.Register(Make("web", "b", 0, {"green", "v1"})).has_value());
  ASSERT_TRUE(registry_.Register(Make("web", "c", 0, {"blue"})).has_value());
  ASSERT_TRUE(registry_.SetHealth("default", "web", "c", Health::kCritical, "down").has_value());
  auto all = registry_.GetService("default", "web");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->instances.size(), 3u);
  auto blue = registry_.GetService("default", "web", {.tags = {"blue"}});
  ASSERT_EQ(blue->instances.size(), 2u);
  auto blue_passing =
      registry_.GetService("default", "web", {.tags = {"blue"}, .passing_only = true});
  ASSERT_EQ(blue_passing->instances.size(), 1u);
  EXPECT_EQ(blue_passing->instances[0].id, "a");
  EXPECT_EQ(registry_.GetService("default", "nope").error().code, ErrorCode::kNotFound);
  auto list = registry_.ListServices("default");
  ASSERT_EQ(list->services.size(), 1u);
  EXPECT_EQ(list->services[0].instances, 3);
  EXPECT_EQ(list->services[0].passing, 2);
  EXPECT_EQ(list->services[0].tags, (std::vector<std::string>{"blue", "green", "v1"}));
}

TEST_F(RegistryTest, SetHealthWritesOnlyOnTransitions) {
  ASSERT_TRUE(registry_.Register(Make("web", "a")).has_value());
  int64_t rev = Rev();
  ASSERT_TRUE(registry_.SetHealth("default", "web", "a", Health::kPassing, "ok").has_value());
  EXPECT_EQ(Rev(), rev);
  ASSERT_TRUE(registry_.SetHealth("default", "web", "a", Health::kCritical, "500").has_value());
  EXPECT_EQ(Rev(), rev + 1);
  ASSERT_TRUE(registry_.SetHealth("default", "web", "a", Health::kCritical, "500").has_value());
  EXPECT_EQ(Rev(), rev + 1);
}

TEST_F(RegistryTest, BadInputChangesNothing) {
  int64_t rev = Rev();
  auto in = Make("web", "a");
  in.port = 0;
  EXPECT_EQ(registry_.Register(in).error().code, ErrorCode::kInvalidArgument);
  in = Make("Web!", "a");
  EXPECT_EQ(registry_.Register(in).error().code, ErrorCode::kInvalidArgument);
  in = Make("web", "a");
  in.port = 70000;
  EXPECT_EQ(registry_.Register(in).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Rev(), rev);
  EXPECT_TRUE(store_.Leases()->empty());
}

struct Collector {
  std::mutex mu;
  std::vector<WatchEvent> events;
  int canceled = 0;
  WatchHandler Handler() {
    return [this](WatchBatch&& b) {
      std::lock_guard lock(mu);
      if (b.canceled) ++canceled;
      for (auto& e : b.events) events.push_back(std::move(e));
    };
  }
  std::vector<int64_t> Revisions() {
    std::lock_guard lock(mu);
    std::vector<int64_t> out;
    for (auto& e : events) out.push_back(e.revision);
    return out;
  }
};

TEST_F(RegistryTest, WatchFromRevisionDeliversEveryLaterChangeInOrder) {
  ASSERT_TRUE(registry_.Register(Make("web", "a")).has_value());
  Collector live;
  auto sub = registry_.Watch("default", "web", 0, live.Handler());
  ASSERT_TRUE(sub.has_value());
  int64_t n = Rev();
  std::vector<int64_t> expected;
  for (int i = 0; i < 5; ++i) {
    auto r = registry_.Register(Make("web", "i" + std::to_string(i)));
    expected.push_back(r->revision);
  }
  ASSERT_TRUE(registry_.Register(Make("other", "x")).has_value());  // not watched
  expected.push_back(*registry_.Deregister("default", "web", "i0"));
  EXPECT_EQ(live.Revisions(), expected);
  // A watcher from revision n (inside the hub's history) sees the same.
  Collector late;
  auto sub2 = registry_.Watch("default", "web", n + 1, late.Handler());
  ASSERT_TRUE(sub2.has_value());
  EXPECT_EQ(late.Revisions(), expected);
  std::lock_guard lock(late.mu);
  EXPECT_EQ(late.events.back().type, WatchEvent::Type::kDelete);
  EXPECT_EQ(late.events.front().instance->id, "i0");
}

TEST(RegistryWatchTest, OldRevisionsBeyondHistoryComeFromTheStore) {
  ManualClock clock;
  store::testing::FakeStore store(clock);
  Registry registry(store, clock, RegistryOptions{.watch_history = 2});
  Collector warm;
  auto w = registry.Watch("", "", 0, warm.Handler());  // starts the hub
  std::vector<int64_t> expected;
  for (int i = 0; i < 6; ++i)
    expected.push_back(registry.Register(Make("web", "i" + std::to_string(i)))->revision);
  Collector old;
  auto sub = registry.Watch("default", "", expected.front(), old.Handler());
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(old.Revisions(), expected);
  expected.push_back(registry.Register(Make("web", "late"))->revision);
  EXPECT_EQ(old.Revisions(), expected);
}

TEST_F(RegistryTest, HubResumesAfterTheStoreCancelsItsWatch) {
  Collector c;
  auto sub = registry_.Watch("default", "", 0, c.Handler());
  std::vector<int64_t> expected;
  expected.push_back(registry_.Register(Make("web", "a"))->revision);
  store_.CancelAllWatches("back-end lost");
  expected.push_back(registry_.Register(Make("web", "b"))->revision);
  EXPECT_EQ(c.Revisions(), expected);
}

TEST_F(RegistryTest, CancelFromInsideTheHandlerStopsDelivery) {
  int calls = 0;
  std::unique_ptr<Subscription> sub;
  auto s = registry_.Watch("default", "", 0, [&](WatchBatch&&) {
    ++calls;
    sub->Cancel();
  });
  sub = std::move(*s);
  ASSERT_TRUE(registry_.Register(Make("web", "a")).has_value());
  ASSERT_TRUE(registry_.Register(Make("web", "b")).has_value());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(registry_.stats().watchers.load(), 0);
}

// Collects a multiplexed watch's deliveries per watch index.
struct MultiCollector {
  std::mutex mu;
  std::vector<int64_t> created;
  std::map<uint32_t, std::vector<int64_t>> revisions;
  std::map<uint32_t, std::vector<WatchEvent::Type>> types;
  std::vector<int64_t> progress;
  std::vector<MultiWatchBatch::Ended> ended;
  int batches_before_created = 0;
  MultiWatchHandler Handler() {
    return [this](MultiWatchBatch&& b) {
      std::lock_guard lock(mu);
      if (!b.created.empty()) created = b.created;
      if (created.empty()) ++batches_before_created;
      for (auto& [w, e] : b.events) {
        revisions[w].push_back(e->revision);
        types[w].push_back(e->type);
      }
      if (b.progress_revision > 0) progress.push_back(b.progress_revision);
      for (auto& e : b.ended) ended.push_back(e);
    };
  }
  std::vector<int64_t> Of(uint32_t w) {
    std::lock_guard lock(mu);
    return revisions[w];
  }
};

TEST_F(RegistryTest, WatchManyGivesEachWatchExactlyItsOwnEventsInOrder) {
  ASSERT_TRUE(registry_.Register(Make("web", "seed")).has_value());
  MultiCollector c;
  std::vector<WatchSpec> specs = {
      {.id = 10, .ns = "default", .service = "web"},
      {.id = 20, .ns = "default"},
      {.id = 30, .ns = "other"},
      {.id = 40, .ns = "default", .service_prefix = "we"},
      {.id = 50, .ns = "default", .service = "web", .no_delete = true},
      {.id = 60, .no_put = true},
  };
  auto sub = registry_.WatchMany(specs, c.Handler());
  ASSERT_TRUE(sub.has_value()) << sub.error().message;
  EXPECT_EQ(registry_.stats().watchers.load(), 6);
  std::map<uint32_t, std::vector<int64_t>> want;
  auto put = [&](const std::string& ns, const std::string& svc, const std::string& id) {
    Instance in = Make(svc, id);
    in.ns = ns;
    auto r = registry_.Register(in);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return r->revision;
  };
  int64_t r1 = put("default", "web", "a");
  int64_t r2 = put("default", "webshop", "b");
  int64_t r3 = put("default", "api", "c");
  int64_t r4 = put("other", "web", "d");
  int64_t r5 = *registry_.Deregister("default", "web", "a");
  int64_t r6 = *registry_.Deregister("other", "web", "d");
  EXPECT_EQ(c.Of(0), (std::vector<int64_t>{r1, r5}));
  EXPECT_EQ(c.Of(1), (std::vector<int64_t>{r1, r2, r3, r5}));
  EXPECT_EQ(c.Of(2), (std::vector<int64_t>{r4, r6}));
  EXPECT_EQ(c.Of(3), (std::vector<int64_t>{r1, r2, r5}));
  EXPECT_EQ(c.Of(4), (std::vector<int64_t>{r1}));
  EXPECT_EQ(c.Of(5), (std::vector<int64_t>{r5, r6}));
  std::lock_guard lock(c.mu);
  EXPECT_EQ(c.batches_before_created, 0);
  ASSERT_EQ(c.created.size(), 6u);
  for (int64_t from : c.created) EXPECT_EQ(from, r1);  // "from now" = the next revision
  EXPECT_TRUE(c.ended.empty());
}

TEST_F(RegistryTest, WatchManyFromARevisionReplaysWhatItMissed) {
  std::vector<int64_t> expected;
  for (int i = 0; i < 4; ++i)
    expected.push_back(registry_.Register(Make("web", "i" + std::to_string(i)))->revision);
  Collector warm;
  auto w = registry_.Watch("", "", 0, warm.Handler());  // the hub runs from here on
  expected.push_back(registry_.Register(Make("web", "late"))->revision);
  MultiCollector c;
  // Watch 0 resumes inside the hub's history, watch 1 before the hub started (a store watch
  // of its own), watch 2 from now.
  auto sub = registry_.WatchMany({{.id = 1, .ns = "default", .from_revision = expected[4]},
                                  {.id = 2, .ns = "default", .from_revision = expected[1]},
                                  {.id = 3, .ns = "default"}},
                                 c.Handler());
  ASSERT_TRUE(sub.has_value()) << sub.error().message;
  int64_t last = registry_.Register(Make("web", "after"))->revision;
  EXPECT_EQ(c.Of(0), (std::vector<int64_t>{expected[4], last}));
  EXPECT_EQ(c.Of(1),
            (std::vector<int64_t>{expected[1], expected[2], expected[3], expected[4], last}));
  EXPECT_EQ(c.Of(2), (std::vector<int64_t>{last}));
  // Progress: every watch has had everything up to the store's revision.
  (*sub)->Progress();
  std::lock_guard lock(c.mu);
  ASSERT_EQ(c.progress.size(), 1u);
  EXPECT_EQ(c.progress[0], last);
  EXPECT_EQ(c.created, (std::vector<int64_t>{expected[4], expected[1], last + 0}));
}

TEST_F(RegistryTest, WatchManyRefusesBadSpecsAndStartsNothing) {
  MultiCollector c;
  struct Case {
    std::vector<WatchSpec> specs;
    std::string want;
  };
  std::vector<Case> cases = {
      {{}, "no watches"},
      {{{.id = 1, .ns = "default"}, {.id = 1, .ns = "default"}}, "watch id 1 is given twice"},
      {{{.id = 2, .ns = "Bad_NS"}}, "watch 2:"},
      {{{.id = 3, .service = "web"}},
       "watch 3: a service or service_prefix watch needs its namespace"},
      {{{.id = 4, .ns = "default", .no_put = true, .no_delete = true}}, "watch 4: filters"},
      {{{.id = 5, .ns = "default", .service = "web", .service_prefix = "w"}}, "exclude each other"},
      {{{.id = 6, .ns = "default", .service_prefix = "a/b"}}, "watch 6: service_prefix"},
      {{{.id = 7, .ns = "default", .from_revision = -1}}, "watch 7: revision"},
  };
  for (auto& k : cases) {
    auto sub = registry_.WatchMany(k.specs, c.Handler());
    ASSERT_FALSE(sub.has_value()) << k.want;
    EXPECT_EQ(sub.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(sub.error().message.find(k.want), std::string::npos) << sub.error().message;
  }
  EXPECT_EQ(registry_.stats().watchers.load(), 0);
  ASSERT_TRUE(registry_.Register(Make("web", "a")).has_value());
  std::lock_guard lock(c.mu);
  EXPECT_TRUE(c.created.empty());
  EXPECT_TRUE(c.revisions.empty());
}

TEST_F(RegistryTest, WatchManyCancelStopsEveryWatch) {
  MultiCollector c;
  auto sub = registry_.WatchMany({{.id = 1, .ns = "default"}, {.id = 2}}, c.Handler());
  ASSERT_TRUE(sub.has_value());
  int64_t r1 = registry_.Register(Make("web", "a"))->revision;
  (*sub)->Cancel();
  EXPECT_EQ(registry_.stats().watchers.load(), 0);
  ASSERT_TRUE(registry_.Register(Make("web", "b")).has_value());
  (*sub)->Progress();  // over: nothing
  EXPECT_EQ(c.Of(0), (std::vector<int64_t>{r1}));
  EXPECT_EQ(c.Of(1), (std::vector<int64_t>{r1}));
  std::lock_guard lock(c.mu);
  EXPECT_TRUE(c.progress.empty());
}

TEST_F(RegistryTest, WatchManySurvivesTheStoreCancellingTheHubWatch) {
  MultiCollector c;
  auto sub = registry_.WatchMany({{.id = 1, .ns = "default"}}, c.Handler());
  std::vector<int64_t> expected;
  expected.push_back(registry_.Register(Make("web", "a"))->revision);
  store_.CancelAllWatches("back-end lost");
  expected.push_back(registry_.Register(Make("web", "b"))->revision);
  EXPECT_EQ(c.Of(0), expected);
}

TEST_F(RegistryTest, BlockingQueryReturnsAtOnceWhenIndexIsBehind) {
  auto a = registry_.Register(Make("web", "a"));
  auto v = registry_.BlockingGetService("default", "web", {}, a->revision - 1, 10s);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->instances.size(), 1u);
}

TEST_F(RegistryTest, BlockingQueryWakesOnAChange) {
  auto a = registry_.Register(Make("web", "a"));
  int64_t index = Rev();
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    (void)registry_.Register(Make("other", "x"));  // not this service: no wake-up
    (void)registry_.Register(Make("web", "b"));
  });
  auto v = registry_.BlockingGetService("default", "web", {}, index, 60s);
  writer.join();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->instances.size(), 2u);
  EXPECT_GT(v->index, index);
}

TEST_F(RegistryTest, BlockingQueryTimesOutWithTheSameView) {
  auto a = registry_.Register(Make("web", "a"));
  int64_t index = Rev();
  auto v = registry_.BlockingGetService("default", "web", {}, index, 20ms);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->index, index);
}

TEST_F(RegistryTest, SelfPreservationKeepsAServiceWhoseInstancesStopTogether) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(registry_.Register(Make("web", "i" + std::to_string(i), 5)).has_value());
  }
  ASSERT_TRUE(registry_.Register(Make("lone", "x", 5)).has_value());
  clock_.Advance(3500ms);
  ASSERT_TRUE(registry_.Heartbeat("default", "web", "i0").has_value());
  clock_.Advance(1000ms);  // i1..i3 and lone have < 1s left
  ASSERT_TRUE(registry_.Sweep().has_value());
  clock_.Advance(1000ms);
  store_.ExpireLeases();
  auto web = registry_.GetService("default", "web");
  ASSERT_TRUE(web.has_value());
  ASSERT_EQ(web->instances.size(), 4u);
  for (const auto& in : web->instances) {
    if (in.id == "i0") {
      EXPECT_EQ(in.health, Health::kPassing);
    } else {
      EXPECT_EQ(in.health, Health::kWarning) << in.id;
      EXPECT_TRUE(in.preserved);
      EXPECT_NE(in.health_output.find("self-preservation"), std::string::npos);
    }
  }
  EXPECT_EQ(registry_.stats().self_preservation_activations.load(), 1);
  EXPECT_EQ(registry_.stats().self_preserved_instances.load(), 3);
  // A lone instance is just dead.
  EXPECT_EQ(registry_.GetService("default", "lone").error().code, ErrorCode::kNotFound);
  // Heartbeats come back: preservation ends.
  auto hb = registry_.Heartbeat("default", "web", "i1");
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->health, Health::kPassing);
  EXPECT_FALSE(hb->preserved);
}

TEST_F(RegistryTest, CriticalTooLongIsDeregistered) {
  auto in = Make("web", "a");
  in.deregister_after = 60s;
  ASSERT_TRUE(registry_.Register(in).has_value());
  ASSERT_TRUE(registry_.SetHealth("default", "web", "a", Health::kCritical, "down").has_value());
  clock_.Advance(59s);
  ASSERT_TRUE(registry_.Sweep().has_value());
  EXPECT_TRUE(registry_.GetInstance("default", "web", "a").has_value());
  clock_.Advance(2s);
  ASSERT_TRUE(registry_.Sweep().has_value());
  EXPECT_FALSE(registry_.GetInstance("default", "web", "a").has_value());
  EXPECT_EQ(registry_.stats().deregistered_critical.load(), 1);
}

// The hub renders each event once; its text must stay what the Json path made of it.
TEST(WatchHubTest, EventTextIsTheSameAsTheJsonPaths) {
  std::vector<Instance> samples;
  Instance plain = Make("svc7", "i42", 0, {"v1", "bench"});
  plain.ns = "bench";
  plain.metadata = {{"zone", "a"}};
  plain.health_since_ms = 1'764'000'000'123;
  samples.push_back(plain);
  Instance escaped = plain;
  escaped.metadata = {{"quote", "say \"hi\""},
                      {"back\\slash", "C:\\path"},
                      {"ctl", std::string("a\x01\n\t\x7f")},
                      {"utf8", "caf\xc3\xa9"}};
  escaped.health = Health::kWarning;
  escaped.health_output = "HTTP 503 \"x\"\n";
  samples.push_back(escaped);
  Instance leased = Make("web", "w-1.a_b", 30);
  leased.preserved = true;
  leased.check = CheckSpec{.kind = CheckSpec::Kind::kHttp, .http = "http://10.0.0.1:8080/h"};
  samples.push_back(leased);
  int64_t revision = 100;
  for (const Instance& in : samples) {
    store::Event e;
    e.kv.key = InstanceKey(in.ns, in.service, in.id);
    // A stored value as the writer encodes it, and one with whitespace (the Json path's).
    for (std::string value : {EncodeStored(in), " " + EncodeStoredViaJson(in) + "\n"}) {
      e.type = store::Event::Type::kPut;
      e.kv.value = value;
      e.kv.mod_revision = ++revision;
      e.kv.lease = in.ttl_seconds ? 77 : 0;
      auto c = ConvertEvent(e);
      ASSERT_NE(c, nullptr);
      auto decoded = DecodeStoredViaJson(e.kv.key, value, e.kv.mod_revision, e.kv.lease);
      ASSERT_TRUE(decoded.has_value());
      EXPECT_EQ(
          *c->json,
          fmt::format(R"({{"type":"put","revision":{},"namespace":"{}","service":"{}","id":"{}",)"
                      R"("instance":{}}})",
                      revision, in.ns, in.service, in.id, InstanceToJsonTextViaJson(*decoded)));
      ASSERT_NE(c->instance, nullptr);
      EXPECT_EQ(EncodeStored(*c->instance), EncodeStoredViaJson(*decoded));
      EXPECT_EQ(c->instance->revision, revision);
    }
    e.type = store::Event::Type::kDelete;
    e.kv.value.clear();
    e.kv.mod_revision = ++revision;
    auto d = ConvertEvent(e);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->type, WatchEvent::Type::kDelete);
    EXPECT_EQ(d->instance, nullptr);
    EXPECT_EQ(*d->json,
              fmt::format(R"({{"type":"delete","revision":{},"namespace":"{}","service":"{}",)"
                          R"("id":"{}"}})",
                          revision, in.ns, in.service, in.id));
  }
  store::Event bad;
  bad.kv.key = "/registry/ns/svc/id";
  bad.kv.value = R"({"address":"10.0.0.1"})";  // no port: not an instance
  EXPECT_EQ(ConvertEvent(bad), nullptr);
  bad.kv.key = "/registry/ns/svc";
  EXPECT_EQ(ConvertEvent(bad), nullptr);
}

}  // namespace
}  // namespace berth::registry
