// ApiServer's access rules over a real token store and real HTTP: cluster, {ns} path,
// namespace_of resolvers, handler authorization (and the 500 for a handler that forgot it),
// lists, node tokens, and the endpoint listing.
#include "api/api_server.h"

#include <gtest/gtest.h>

#include "core/http/client.h"
#include "harness/harness.h"
#include "store/sqlite/sqlite_store.h"

namespace berth::api {
namespace {

using security::Role;

class ApiServerAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(dir_.Sub("store.db"), {.durable = false}, clock_);
    ASSERT_TRUE(s.has_value());
    store_ = std::move(*s);
    tokens_ = std::make_unique<security::TokenService>(*store_, clock_);
    admin_ = Token({.role = Role::kAdmin});
    viewer_ = Token({.role = Role::kViewer});
    shop_ = Token({.bindings = {{"shop", Role::kOperator}}});
    node_ = Token({.role = Role::kOperator, .node = "n1"});

    Router router;
    auto ok = [](std::shared_ptr<Call> call) { call->Reply(200, Json{{"ok", true}}); };
    router.Add(
        {.method = "GET", .pattern = "/v1/health", .access = Access::kPublic, .handler = ok});
    router.Add({.method = "POST",
                .pattern = "/v1/cluster",
                .access = Access::kCluster,
                .min_role = Role::kOperator,
                .mutating = true,
                .handler = ok});
    router.Add({.method = "PUT",
                .pattern = "/v1/things/{ns}/{name}",
                .access = Access::kNamespace,
                .min_role = Role::kOperator,
                .mutating = true,
                .handler = ok});
    // Objects named by path whose namespace is looked up: "a-*" in shop, "b-*" in billing.
    router.Add({.method = "POST",
                .pattern = "/v1/objects/{name}/poke",
                .access = Access::kNamespace,
                .min_role = Role::kOperator,
                .namespace_of = [](const Call& call) -> Result<std::string> {
                  const std::string& n = call.Param("name");
                  if (n.starts_with("a-")) return std::string("shop");
                  if (n.starts_with("b-")) return std::string("billing");
                  return Fail(ErrorCode::kNotFound, "no object " + n);
                },
                .handler = ok});
    // The namespace is in the body.
    router.Add({.method = "POST",
                .pattern = "/v1/apply",
                .access = Access::kHandler,
                .min_role = Role::kOperator,
                .mutating = true,
                .handler = [](std::shared_ptr<Call> call) {
                  auto body = call->JsonBody();
                  if (!body) return call->ReplyError(body.error());
                  if (!call->Authorize(body->value("namespace", ""), Role::kOperator)) return;
                  call->Reply(201, Json{{"applied", true}});
                }});
    // A handler that forgets to authorize: answered 500, never 200.
    router.Add({.method = "POST",
                .pattern = "/v1/forgetful",
                .access = Access::kHandler,
                .min_role = Role::kViewer,
                .handler = ok});
    router.Add({.method = "GET",
                .pattern = "/v1/list",
                .access = Access::kList,
                .handler = [](std::shared_ptr<Call> call) {
                  Json items = Json::array();
                  for (const char* ns : {"shop", "billing", "default"}) {
                    if (call->MayRead(ns)) items.push_back(ns);
                  }
                  call->Reply(200, Json{{"items", items}});
                }});
    router.Add({.method = "GET",
                .pattern = "/v1/nodes/{node}/work",
                .access = Access::kCluster,
                .for_nodes = true,
                .handler = ok});
    auto api = ApiServer::Start({.address = "127.0.0.1:0", .handler_threads = 2},
                                {.tokens = tokens_.get(), .clock = &clock_}, std::move(router));
    ASSERT_TRUE(api.has_value()) << api.error().message;
    api_ = std::move(*api);
  }

  std::string Token(security::TokenGrant grant) {
    auto t = tokens_->Create("t" + std::to_string(count_++), std::move(grant), "test");
    EXPECT_TRUE(t.has_value());
    return t ? t->secret : "";
  }

  // The status of one request; `body_out` gets the body.
  int Status(std::string_view method, std::string_view path, const std::string& token,
             std::string body = {}, std::string* body_out = nullptr) {
    http::Headers h;
    if (!token.empty()) h.Set("Authorization", "Bearer " + token);
    auto r = http::Fetch(method, "http://" + api_->address() + std::string(path), std::move(body),
                         std::move(h));
    if (!r) return -1;
    if (body_out) *body_out = r->body;
    return r->status;
  }

  SystemClock clock_;
  testing::TempDir dir_{"berth-api-access"};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<security::TokenService> tokens_;
  std::unique_ptr<ApiServer> api_;
  std::string admin_, viewer_, shop_, node_;
  int count_ = 0;
};

TEST_F(ApiServerAccessTest, ClusterEndpointsNeedAGlobalRole) {
  EXPECT_EQ(Status("POST", "/v1/cluster", admin_), 200);
  EXPECT_EQ(Status("POST", "/v1/cluster", viewer_), 403);
  std::string body;
  EXPECT_EQ(Status("POST", "/v1/cluster", shop_, "", &body), 403);
  EXPECT_NE(body.find("needs role operator as a global role"), std::string::npos) << body;
  EXPECT_EQ(Status("POST", "/v1/cluster", ""), 401);
  EXPECT_EQ(Status("GET", "/v1/health", ""), 200);
}

TEST_F(ApiServerAccessTest, PathNamespaceIsCheckedBeforeTheHandler) {
  EXPECT_EQ(Status("PUT", "/v1/things/shop/x", shop_), 200);
  std::string body;
  EXPECT_EQ(Status("PUT", "/v1/things/billing/x", shop_, "", &body), 403);
  EXPECT_NE(body.find("namespace billing"), std::string::npos) << body;
  EXPECT_EQ(Status("PUT", "/v1/things/billing/x", admin_), 200);
  EXPECT_EQ(Status("PUT", "/v1/things/shop/x", viewer_), 403);
}

TEST_F(ApiServerAccessTest, ObjectsNamedByPathAreCheckedInTheirOwnNamespace) {
  EXPECT_EQ(Status("POST", "/v1/objects/a-1/poke", shop_), 200);
  EXPECT_EQ(Status("POST", "/v1/objects/b-1/poke", shop_), 403);
  EXPECT_EQ(Status("POST", "/v1/objects/zzz/poke", shop_), 404);
  EXPECT_EQ(Status("POST", "/v1/objects/b-1/poke", admin_), 200);
}

TEST_F(ApiServerAccessTest, HandlerChecksTheNamespaceFromTheBody) {
  EXPECT_EQ(Status("POST", "/v1/apply", shop_, R"({"namespace":"shop"})"), 201);
  EXPECT_EQ(Status("POST", "/v1/apply", shop_, R"({"namespace":"billing"})"), 403);
  // Refused before the handler when the token holds the role nowhere.
  std::string body;
  EXPECT_EQ(Status("POST", "/v1/apply", viewer_, R"({"namespace":"shop"})", &body), 403);
  EXPECT_NE(body.find("needs role operator"), std::string::npos) << body;
}

TEST_F(ApiServerAccessTest, AHandlerThatAnswersWithoutAuthorizingAnswers500) {
  std::string body;
  EXPECT_EQ(Status("POST", "/v1/forgetful", admin_, "", &body), 500);
  EXPECT_NE(body.find("did not check the caller's namespace"), std::string::npos) << body;
}

TEST_F(ApiServerAccessTest, ListsShowOnlyReadableNamespaces) {
  std::string body;
  ASSERT_EQ(Status("GET", "/v1/list", shop_, "", &body), 200);
  EXPECT_EQ(ParseJson(body).value()["items"], Json::array({"shop"}));
  ASSERT_EQ(Status("GET", "/v1/list", viewer_, "", &body), 200);
  EXPECT_EQ(ParseJson(body).value()["items"].size(), 3u);
}

TEST_F(ApiServerAccessTest, NodeTokensStayOnTheirNodesEndpoints) {
  EXPECT_EQ(Status("GET", "/v1/nodes/n1/work", node_), 200);
  EXPECT_EQ(Status("GET", "/v1/nodes/n2/work", node_), 403);
  EXPECT_EQ(Status("PUT", "/v1/things/shop/x", node_), 403);
}

TEST_F(ApiServerAccessTest, TheEndpointListingGivesEachEndpointsRule) {
  std::string body;
  ASSERT_EQ(Status("GET", "/v1/api/endpoints", shop_, "", &body), 200);
  auto j = ParseJson(body);
  ASSERT_TRUE(j.has_value());
  bool seen = false;
  for (const auto& e : (*j)["endpoints"]) {
    if (e["pattern"] == "/v1/things/{ns}/{name}") {
      seen = true;
      EXPECT_EQ(e["access"], "namespace");
      EXPECT_EQ(e["role"], "operator");
      EXPECT_EQ(e["mutating"], true);
    }
  }
  EXPECT_TRUE(seen) << body;
}

}  // namespace
}  // namespace berth::api
