#include "orchestrator/canary_collector.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "orchestrator/testing/orchestrator_test.h"

namespace berth::orchestrator {
namespace {

// Versions by name: the record's stable and canary versions, and a third.
enum class V { kStable, kCanary, kOther };

struct DoneCase {
  const char* name;
  CanaryState state;
  V current;         // the service's version now
  std::set<V> live;  // versions of its live instances
  bool rollout_complete;
  bool done;
  bool canary_setting = true;  // update.canary still set
  bool service_gone = false;
};

TEST(CanaryDoneTest, ARecordIsDoneOnceNothingOfItsCanaryIsLeft) {
  using enum V;
  const DoneCase cases[] = {
      {"canary in progress", CanaryState::kCanary, kCanary, {kStable, kCanary}, false, false},
      {"canary written around the app store", CanaryState::kCanary, kOther, {kStable}, false, true},
      {"canary setting removed in place",
       CanaryState::kCanary,
       kCanary,
       {kStable, kCanary},
       false,
       true,
       false},
      {"promoted, rolling out", CanaryState::kPromoted, kCanary, {kStable, kCanary}, false, false},
      {"promoted, complete, stable still stopping",
       CanaryState::kPromoted,
       kCanary,
       {kStable, kCanary},
       true,
       false},
      {"promoted and complete", CanaryState::kPromoted, kCanary, {kCanary}, true, true},
      {"promoted, then another version", CanaryState::kPromoted, kOther, {kCanary}, false, true},
      {"aborted, canary still stopping",
       CanaryState::kAborted,
       kStable,
       {kStable, kCanary},
       false,
       false},
      {"aborted and alone", CanaryState::kAborted, kStable, {kStable}, false, true},
      {"aborted, then another version", CanaryState::kAborted, kOther, {kStable}, false, true},
      {"the service is gone", CanaryState::kCanary, kCanary, {kStable}, false, true, true, true},
  };
  std::map<V, ServiceSpec> specs;
  for (auto [v, image] :
       {std::pair{kStable, "shop/api:1"}, {kCanary, "shop/api:2"}, {kOther, "shop/api:3"}}) {
    specs[v].name = "api";
    specs[v].image = image;
    specs[v].update.canary = 1;
  }
  const CanaryRecord base{.stable_hash = specs[kStable].DeployHash(),
                          .canary_hash = specs[kCanary].DeployHash()};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CanaryRecord rec = base;
    rec.state = c.state;
    ServiceSpec current = specs[c.current];
    if (!c.canary_setting) current.update.canary = 0;
    std::set<uint64_t> live;
    for (V v : c.live) live.insert(specs[v].DeployHash());
    EXPECT_EQ(CanaryDone(rec, c.service_gone ? nullptr : &current, live, c.rollout_complete),
              c.done);
  }
}

class CanaryCollectorTest : public testing::OrchestratorTest {};

TEST_F(CanaryCollectorTest, DeletesOnlyARecordThatIsDoneAndUnchanged) {
  Apply("name: shop\nservices:\n  api:\n    image: shop/api:1\n");
  PassResult pass;
  pass.apps.push_back(Parse("name: shop\nservices:\n  api:\n    image: shop/api:1\n"));
  const uint64_t hash = pass.apps[0].services[0].DeployHash();
  CanaryRecord rec{.state = CanaryState::kAborted, .stable_hash = hash, .canary_hash = hash + 1};
  auto put = store_->Put(CanaryKey("default", "shop", "api"), CanaryToJson(rec));
  ASSERT_TRUE(put);
  rec.mod_revision = put->revision - 1;  // read before a later write
  pass.canaries["default/shop/api"] = rec;
  const store::Compare no_guard{.key = "/absent", .number = 0};
  CanaryCollector collector(*store_);
  EXPECT_TRUE(collector.Collect(pass, {}, no_guard).empty());
  EXPECT_NE(Get(CanaryKey("default", "shop", "api")), "");

  pass.canaries["default/shop/api"].mod_revision = put->revision;
  EXPECT_EQ(collector.Collect(pass, {}, no_guard), std::set<std::string>{"default/shop/api"});
  EXPECT_EQ(Get(CanaryKey("default", "shop", "api")), "");
}

}  // namespace
}  // namespace berth::orchestrator
