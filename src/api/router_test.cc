#include "api/router.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

Router MakeRouter() {
  Router r;
  r.Add({.method = "GET", .pattern = "/v1/kv/{key...}", .handler = [](auto) {}});
  r.Add({.method = "PUT", .pattern = "/v1/registry/{ns}/{service}/{instance}", .handler = [](auto) {
         }});
  r.Add({.method = "GET", .pattern = "/v1/health", .handler = [](auto) {}});
  return r;
}

TEST(Router, RestParameterKeepsSlashesAndLeadingSlash) {
  auto r = MakeRouter();
  auto m = r.Find("GET", "/v1/kv/apps/default/shop");
  ASSERT_NE(m.endpoint, nullptr);
  EXPECT_EQ(m.params["key"], "/apps/default/shop");
}

TEST(Router, SegmentParametersBindByName) {
  auto r = MakeRouter();
  auto m = r.Find("PUT", "/v1/registry/default/web/i-1");
  ASSERT_NE(m.endpoint, nullptr);
  EXPECT_EQ(m.params["ns"], "default");
  EXPECT_EQ(m.params["service"], "web");
  EXPECT_EQ(m.params["instance"], "i-1");
}

TEST(Router, WrongMethodIsDistinguishedFromUnknownPath) {
  auto r = MakeRouter();
  auto m = r.Find("DELETE", "/v1/health");
  EXPECT_EQ(m.endpoint, nullptr);
  EXPECT_TRUE(m.path_matched);
  auto n = r.Find("GET", "/v1/nothing");
  EXPECT_EQ(n.endpoint, nullptr);
  EXPECT_FALSE(n.path_matched);
}

TEST(Router, DoesNotMatchPrefixOfASegment) {
  auto r = MakeRouter();
  EXPECT_EQ(r.Find("GET", "/v1/healthz").endpoint, nullptr);
  EXPECT_EQ(r.Find("GET", "/v1/kv").endpoint, nullptr);  // the key must not be empty
  EXPECT_EQ(r.Find("PUT", "/v1/registry/default/web").endpoint, nullptr);
}

TEST(Router, HeadIsServedByGet) {
  auto r = MakeRouter();
  EXPECT_NE(r.Find("HEAD", "/v1/health").endpoint, nullptr);
}

}  // namespace
}  // namespace berth::api
