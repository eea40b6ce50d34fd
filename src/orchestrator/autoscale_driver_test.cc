#include "orchestrator/autoscale_driver.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "orchestrator/testing/orchestrator_test.h"

namespace berth::orchestrator {
namespace {

const store::Compare kNoGuard{.key = "/absent", .number = 0};

store::KeyValue Report(std::string value) {
  store::KeyValue kv;
  kv.key = "/load/gateway/gw";
  kv.value = std::move(value);
  return kv;
}

TEST(SumGatewayLoadTest, SumsEveryGatewaysRatePerService) {
  struct Case {
    const char* name;
    std::vector<std::string> reports;
    std::optional<std::map<std::string, double>> want;
  };
  const Case cases[] = {
      {"no gateway: not measured", {}, std::nullopt},
      {"one gateway",
       {R"({"services":{"shop/api":{"rps":12.5}}})"},
       std::map<std::string, double>{{"shop/api", 12.5}}},
      {"two gateways are summed",
       {R"({"services":{"shop/api":{"rps":10},"shop/web":{"rps":1}}})",
        R"({"services":{"shop/api":{"rps":5}}})"},
       std::map<std::string, double>{{"shop/api", 15}, {"shop/web", 1}}},
      {"a gateway that saw nothing: zero, measured",
       {R"({"services":{}})"},
       std::map<std::string, double>{}},
      {"reports that do not decode are left out", {"{", R"([1,2])"}, std::nullopt},
      // The gateway's strict decoder refuses a report with a bad rate whole.
      {"a report with a bad rate is left out",
       {R"({"services":{"shop/api":{"rps":-3}}})"},
       std::nullopt},
      {"one bad report does not hide another gateway's",
       {R"({"services":{"shop/web":{"rps":"lots"}}})", R"({"services":{"shop/api":{"rps":4}}})"},
       std::map<std::string, double>{{"shop/api", 4}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<store::KeyValue> kvs;
    for (const auto& r : c.reports) kvs.push_back(Report(r));
    EXPECT_EQ(SumGatewayLoad(kvs), c.want);
  }
}

class AutoscaleDriverTest : public testing::OrchestratorTest {
 protected:
  // The stored app and a pass over it with `ready` instances reporting `cpu` millicores.
  PassResult Pass(int ready, int64_t cpu) {
    auto stored = apps_->Get("default", "web");
    EXPECT_TRUE(stored && *stored);
    PassResult pass;
    pass.apps.push_back((*stored)->app);
    for (int i = 0; i < ready; ++i) {
      Instance in;
      in.id = "api-" + std::to_string(i);
      in.ns = "default";
      in.app = "web";
      in.service = "api";
      in.state = InstanceState::kReady;
      in.cpu_millis = cpu;
      pass.instances.push_back(in);
    }
    return pass;
  }
  int64_t Replicas() { return (*apps_->Get("default", "web"))->app.services[0].replicas; }
};

constexpr const char* kWeb = R"(name: web
services:
  api:
    image: web/api:1
    replicas: 2
    resources: {cpu: 500m}
    autoscale: {min: 1, max: 6, targetCpu: 50%, cooldown: 60s}
)";

TEST_F(AutoscaleDriverTest, ScalesWritesWhyAndKeepsTheCooldownAcrossLeaders) {
  Apply(kWeb);
  AutoscaleDriver driver(*store_, clock_, *apps_);
  // 450m of 500m is 90% against 50%: ceil(2 * 1.8) = 4.
  EXPECT_EQ(driver.Run(Pass(2, 450), kNoGuard), std::vector<std::string>{"default/web/api 2 -> 4"});
  EXPECT_EQ(Replicas(), 4);
  auto rec = ParseJson(Get(AutoscaleKey("default", "web", "api")));
  ASSERT_TRUE(rec);
  EXPECT_EQ((*rec)["from"], 2);
  EXPECT_EQ((*rec)["to"], 4);
  EXPECT_EQ((*rec)["reason"], "cpu 90% > target 50%");
  EXPECT_EQ(EventReasons("web").back(), "Scaled");

  // A new leader's driver: within the cool-down, no scale-down though the load fell.
  clock_.Advance(std::chrono::seconds(10));
  AutoscaleDriver next(*store_, clock_, *apps_);
  EXPECT_TRUE(next.Run(Pass(4, 25), kNoGuard).empty());
  EXPECT_EQ(Replicas(), 4);
}

TEST_F(AutoscaleDriverTest, ADecisionOnReplicasThatChangedMeanwhileIsNotWritten) {
  Apply(kWeb);
  PassResult stale = Pass(2, 450);  // read at 2 replicas
  ASSERT_TRUE(apps_->Scale("default", "web", "api", 3));
  AutoscaleDriver driver(*store_, clock_, *apps_);
  EXPECT_TRUE(driver.Run(stale, kNoGuard).empty());
  EXPECT_EQ(Replicas(), 3);
  EXPECT_EQ(Get(AutoscaleKey("default", "web", "api")), "");
  // Decided again from what is stored now: the cool-down did not start.
  EXPECT_EQ(driver.Run(Pass(3, 450), kNoGuard), std::vector<std::string>{"default/web/api 3 -> 6"});
}

}  // namespace
}  // namespace berth::orchestrator
