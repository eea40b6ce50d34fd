#include "orchestrator/types.h"

#include <gtest/gtest.h>

namespace berth::orchestrator {
namespace {

ServiceSpec Api() {
  ServiceSpec s;
  s.name = "api";
  s.image = "shop/api:1";
  s.replicas = 3;
  s.resources = {500, 256 << 20, 100};
  return s;
}

TEST(ServiceSpec, ValidSpecPasses) { EXPECT_TRUE(Api().Validate("services.api")); }

TEST(ServiceSpec, ErrorsNameTheField) {
  auto s = Api();
  s.image.clear();
  auto r = s.Validate("services.api");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "services.api.image: is required");

  s = Api();
  s.ports.push_back({"http", 80, 8080, Protocol::kTcp});
  s.ports.push_back({"admin", 81, 8080, Protocol::kTcp});
  r = s.Validate("services.api");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "services.api.ports[1]: host port 8080 is used twice");

  s = Api();
  s.update.max_surge = {0, false};
  s.update.max_unavailable = {0, true};
  r = s.Validate("services.api");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("must not both be 0"), std::string::npos);

  s = Api();
  s.probes.readiness = Probe{};
  r = s.Validate("services.api");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "services.api.probes.readiness.port: must be between 1 and 65535, got 0");
}

TEST(ServiceSpec, DeployHashChangesOnlyForDestructiveFields) {
  auto a = Api();
  auto b = a;
  b.replicas = 10;
  b.placement.strategy = PlacementStrategy::kBinpack;
  b.expose.push_back({});
  EXPECT_EQ(a.DeployHash(), b.DeployHash());
  b.image = "shop/api:2";
  EXPECT_NE(a.DeployHash(), b.DeployHash());
  b = a;
  b.env["A"] = "1";
  EXPECT_NE(a.DeployHash(), b.DeployHash());
}

TEST(UpdateStrategy, ResolvesPercentagesLikeKubernetes) {
  UpdateStrategy u;  // 25% / 25%
  EXPECT_EQ(u.Resolve(10), (std::pair<int64_t, int64_t>{3, 2}));
  EXPECT_EQ(u.Resolve(1), (std::pair<int64_t, int64_t>{1, 0}));
  u.max_surge = {0, true};
  EXPECT_EQ(u.Resolve(1), (std::pair<int64_t, int64_t>{0, 1}));  // never both zero
}

TEST(Constraint, MatchesOperators) {
  std::map<std::string, std::string> labels{{"zone", "a"}, {"ssd", "true"}};
  EXPECT_TRUE((Constraint{"zone", Constraint::Op::kEqual, {"a"}}.Matches(labels)));
  EXPECT_FALSE((Constraint{"zone", Constraint::Op::kNotEqual, {"a"}}.Matches(labels)));
  EXPECT_TRUE((Constraint{"rack", Constraint::Op::kNotEqual, {"a"}}.Matches(labels)));
  EXPECT_TRUE((Constraint{"zone", Constraint::Op::kIn, {"b", "a"}}.Matches(labels)));
  EXPECT_FALSE((Constraint{"rack", Constraint::Op::kIn, {"a"}}.Matches(labels)));
  EXPECT_TRUE((Constraint{"ssd", Constraint::Op::kExists, {}}.Matches(labels)));
  EXPECT_TRUE((Constraint{"gpu", Constraint::Op::kNotExists, {}}.Matches(labels)));
  EXPECT_EQ((Constraint{"zone", Constraint::Op::kIn, {"a", "b"}}.ToString()), "zone in (a, b)");
}

TEST(App, RejectsDuplicateServicesAndBadNames) {
  App app;
  app.name = "shop";
  app.services = {Api(), Api()};
  auto r = app.Validate();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "services.api: service defined twice");
  app.services.pop_back();
  EXPECT_TRUE(app.Validate());
  app.name = "Shop";
  EXPECT_FALSE(app.Validate());
}

TEST(Format, BytesAndCpu) {
  EXPECT_EQ(FormatBytes(8LL << 30), "8 GiB");
  EXPECT_EQ(FormatBytes(1536LL << 20), "1.5 GiB");
  EXPECT_EQ(FormatBytes(100), "100 B");
  EXPECT_EQ(FormatCpu(500), "500m cpu");
  EXPECT_EQ(FormatCpu(2000), "2 cpu");
}

}  // namespace
}  // namespace berth::orchestrator
