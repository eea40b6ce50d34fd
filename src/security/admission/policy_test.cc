// Admission policies: reading them strictly, the built-in levels, and one evaluation that
// lists every violated rule.
#include "security/admission/policy.h"

#include <gtest/gtest.h>

namespace berth::security::admission {
namespace {

ImageFacts Clean() { return ImageFacts{.scanned = true, .user = "app"}; }

TEST(AdmissionPolicy, LevelsGiveDefaultsAndFieldsOverrideThem) {
  auto p = ParsePolicy("mode: warn\nlevel: restricted\ndenySeverity: high\n", "shop", "p.yaml");
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->mode, Mode::kWarn);
  EXPECT_TRUE(p->run_as_non_root);
  EXPECT_TRUE(p->require_scan);
  EXPECT_EQ(p->deny_severity, scan::Severity::kHigh);
  EXPECT_EQ(p->allowed_capabilities, std::vector<std::string>{"NET_BIND_SERVICE"});
  auto b = ParsePolicy("{\"level\": \"baseline\", \"allowedCapabilities\": [\"cap_net_admin\"]}",
                       "shop", "p.json");
  ASSERT_TRUE(b.has_value()) << b.error().message;
  EXPECT_EQ(b->mode, Mode::kEnforce);
  EXPECT_EQ(b->allowed_capabilities, std::vector<std::string>{"NET_ADMIN"});
}

TEST(AdmissionPolicy, BadPoliciesNameLineAndField) {
  auto typo = ParsePolicy("mode: enforce\nrunAsNonroot: true\n", "shop", "p.yaml");
  ASSERT_FALSE(typo.has_value());
  EXPECT_NE(typo.error().message.find("p.yaml:2"), std::string::npos) << typo.error().message;
  EXPECT_NE(typo.error().message.find("runAsNonRoot"), std::string::npos) << typo.error().message;
  auto mode = ParsePolicy("mode: strict\n", "shop", "p.yaml");
  ASSERT_FALSE(mode.has_value());
  EXPECT_NE(mode.error().message.find("enforce"), std::string::npos) << mode.error().message;
  EXPECT_FALSE(ParsePolicy("level: paranoid\n", "shop", "p.yaml").has_value());
  EXPECT_FALSE(ParsePolicy("denySeverity: extreme\n", "shop", "p.yaml").has_value());
  EXPECT_FALSE(ParsePolicy("- a list\n", "shop", "p.yaml").has_value());
}

TEST(AdmissionPolicy, OneDecisionListsEveryViolatedRule) {
  auto p = ParsePolicy(
      "level: restricted\nallowedRegistries: [registry.local:5000]\ndenySeverity: high\n", "shop",
      "p.yaml");
  ASSERT_TRUE(p.has_value());
  std::vector<Container> cs = {
      {.name = "api",
       .image = "docker.io/library/nginx:1",
       .privileged = true,
       .host_network = true,
       .cap_add = {"SYS_ADMIN"},
       .user = "0"},
      {.name = "db", .image = "registry.local:5000/shop/db:1", .read_only_rootfs = true},
      {.name = "ok", .image = "registry.local:5000/shop/ok:1", .read_only_rootfs = true}};
  auto d = Evaluate(*p, cs, [](const std::string& image) {
    if (image.find("/db:") != std::string::npos) {
      ImageFacts f = Clean();
      f.findings.push_back({.advisory = "DSA-5621-1",
                            .package = "bind9-libs",
                            .fixed = "1:9.18.24-1",
                            .severity = scan::Severity::kHigh});
      f.findings.push_back({.advisory = "X-2",
                            .package = "y",
                            .fixed = "",  // no fix: not counted
                            .severity = scan::Severity::kCritical});
      return f;
    }
    if (image.find("nginx") != std::string::npos) return ImageFacts{};  // not scanned
    return Clean();
  });
  EXPECT_FALSE(d.admitted());
  std::string all;
  for (const auto& v : d.violations) all += v + "\n";
  for (const char* want :
       {"api (docker.io/library/nginx:1): privileged",
        "api (docker.io/library/nginx:1): the host's network", "capability SYS_ADMIN",
        "root filesystem must be read-only", "registry docker.io is not in the allowed",
        "has not been scanned", "runs as root",
        "db (registry.local:5000/shop/db:1): high finding "
        "DSA-5621-1 in bind9-libs has a fix (1:9.18.24-1)"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << "\n" << all;
  }
  EXPECT_EQ(all.find("ok ("), std::string::npos) << all;
  EXPECT_EQ(all.find("X-2"), std::string::npos) << all;
  std::string msg = d.Message("shop", "app shop/web");
  EXPECT_TRUE(
      msg.starts_with("admission policy of namespace shop (enforce) refuses app shop/web: "))
      << msg;
}

TEST(AdmissionPolicy, RestrictedAdmitsAServiceThatAsksForAReadOnlyRootAndNonRoot) {
  auto p = ParsePolicy("level: restricted\n", "shop", "p.yaml");
  ASSERT_TRUE(p.has_value());
  // The image runs as root: a service that says nothing is refused, one whose
  // securityContext asks for a read-only root and runAsNonRoot (the agent refuses root at
  // start) or a non-root runAsUser is admitted.
  auto facts = [](const std::string&) {
    ImageFacts f = Clean();
    f.user = "root";
    return f;
  };
  Container plain{.name = "api", .image = "shop/api:1"};
  auto refused = Evaluate(*p, {plain}, facts);
  EXPECT_FALSE(refused.admitted());
  std::string all;
  for (const auto& v : refused.violations) all += v + "\n";
  EXPECT_NE(all.find("root filesystem must be read-only"), std::string::npos) << all;
  EXPECT_NE(all.find("runs as root"), std::string::npos) << all;
  Container non_root = plain;
  non_root.read_only_rootfs = true;
  non_root.run_as_non_root = true;
  auto d = Evaluate(*p, {non_root}, facts);
  EXPECT_TRUE(d.admitted()) << d.Message("shop", "app");
  Container by_uid = plain;
  by_uid.read_only_rootfs = true;
  by_uid.user = "1000";
  EXPECT_TRUE(Evaluate(*p, {by_uid}, facts).admitted());
  by_uid.user = "0";
  EXPECT_FALSE(Evaluate(*p, {by_uid}, facts).admitted());
}

TEST(AdmissionPolicy, WarnAndAuditAdmitWithTheViolationsAndPrivilegedAllowsAll) {
  auto warn = ParsePolicy("mode: warn\nlevel: baseline\n", "shop", "p.yaml");
  ASSERT_TRUE(warn.has_value());
  std::vector<Container> cs = {{.name = "x", .image = "x:1", .privileged = true}};
  auto d = Evaluate(*warn, cs, [](const std::string&) { return Clean(); });
  EXPECT_TRUE(d.admitted());
  EXPECT_EQ(d.violations.size(), 1u);
  auto open = ParsePolicy("level: privileged\n", "shop", "p.yaml");
  ASSERT_TRUE(open.has_value());
  cs[0].host_pid = true;
  cs[0].cap_add = {"SYS_ADMIN"};
  EXPECT_TRUE(
      Evaluate(*open, cs, [](const std::string&) { return ImageFacts{}; }).violations.empty());
  EXPECT_EQ(RegistryOf("nginx:1"), "docker.io");
  EXPECT_EQ(RegistryOf("team/app:1"), "docker.io");
  EXPECT_EQ(RegistryOf("localhost/app:1"), "localhost");
  EXPECT_EQ(RegistryOf("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
}

}  // namespace
}  // namespace berth::security::admission
