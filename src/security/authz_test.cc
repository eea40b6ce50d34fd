// Roles, bindings and the authorization check; token records with bindings over the real
// sqlite store (created, read back, re-granted, and records an older server wrote).
#include "security/authz.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "harness/harness.h"
#include "security/tokens.h"
#include "store/sqlite/sqlite_store.h"

namespace berth::security {
namespace {

Principal ShopOperator() {
  Principal p{.name = "shop-ci",
              .bindings = {{"billing", Role::kViewer}, {"shop", Role::kOperator}}};
  return p;
}

TEST(Authz, ABindingCountsOnlyInItsNamespace) {
  Principal p = ShopOperator();
  EXPECT_EQ(p.RoleIn("shop"), Role::kOperator);
  EXPECT_EQ(p.RoleIn("billing"), Role::kViewer);
  EXPECT_EQ(p.RoleIn("default"), Role::kNone);
  EXPECT_EQ(p.RoleIn("sho"), Role::kNone);
  EXPECT_EQ(p.RoleIn("shopx"), Role::kNone);
  EXPECT_TRUE(p.MayRead("billing"));
  EXPECT_FALSE(p.MayRead("default"));
  EXPECT_FALSE(p.SeesAllNamespaces());
  EXPECT_EQ(p.HighestRole(), Role::kOperator);
}

TEST(Authz, AGlobalRoleCountsEverywhereAndTheHigherOfTheTwoWins) {
  Principal p{.name = "x", .role = Role::kViewer, .bindings = {{"shop", Role::kOperator}}};
  EXPECT_EQ(p.RoleIn("anything"), Role::kViewer);
  EXPECT_EQ(p.RoleIn("shop"), Role::kOperator);
  Principal admin{.name = "root", .role = Role::kAdmin, .bindings = {{"shop", Role::kViewer}}};
  EXPECT_EQ(admin.RoleIn("shop"), Role::kAdmin);
  EXPECT_TRUE(admin.SeesAllNamespaces());
}

TEST(Authz, RefusalNamesTheNamespaceTheRoleNeededAndWhatTheTokenHas) {
  auto r = Authorize(ShopOperator(), "billing", Role::kOperator);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().message.find("operator in namespace billing"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("viewer of billing, operator of shop"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(Authorize(ShopOperator(), "shop", Role::kOperator).has_value());
  auto c = AuthorizeCluster(ShopOperator(), Role::kViewer);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("needs role viewer as a global role"), std::string::npos) << c.error().message;
  EXPECT_FALSE(Authorize(Principal{}, "shop", Role::kViewer).has_value());
}

TEST(Authz, BindingsAreValidatedAndSorted) {
  std::vector<Binding> b = {{"shop", Role::kOperator}, {"billing", Role::kViewer}};
  ASSERT_TRUE(NormalizeBindings(b).has_value());
  EXPECT_EQ(b[0].ns, "billing");
  std::vector<Binding> admin = {{"shop", Role::kAdmin}};
  auto r = NormalizeBindings(admin);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("admin is a global role"), std::string::npos);
  std::vector<Binding> twice = {{"shop", Role::kOperator}, {"shop", Role::kViewer}};
  EXPECT_NE(NormalizeBindings(twice).error().message.find("bound twice"), std::string::npos);
  for (const char* bad : {"", "Shop", "9shop", "shop-", "sh op", "shop/x",
                          "a234567890123456789012345678901234567890123456789012345678901234"}) {
    std::vector<Binding> one = {{bad, Role::kViewer}};
    EXPECT_FALSE(NormalizeBindings(one).has_value()) << bad;
  }
  std::vector<Binding> none = {{"shop", Role::kNone}};
  EXPECT_FALSE(NormalizeBindings(none).has_value());
}

class TokenBindingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(dir_.Sub("store.db"), {.durable = false}, clock_);
    ASSERT_TRUE(s.has_value());
    store_ = std::move(*s);
    tokens_ = std::make_unique<TokenService>(*store_, clock_);
  }
  SystemClock clock_;
  testing::TempDir dir_{"berth-authz-test"};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<TokenService> tokens_;
};

TEST_F(TokenBindingsTest, ANamespacedTokenAuthenticatesWithItsBindingsAndNoGlobalRole) {
  auto t = tokens_->Create("shop-ci", {.bindings = {{"shop", Role::kOperator}}}, "test");
  ASSERT_TRUE(t.has_value()) << t.error().message;
  auto p = tokens_->Authenticate(t->secret);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->role, Role::kNone);
  ASSERT_EQ(p->bindings.size(), 1u);
  EXPECT_EQ(p->bindings[0], (Binding{"shop", Role::kOperator}));
  // The stored record has no "role": a server that does not know bindings refuses it.
  auto kv = store_->Get("/security/tokens/" + t->record.id);
  ASSERT_TRUE(kv.has_value());
  EXPECT_EQ(kv->kvs[0].value.find("\"role\":\"operator\",\"created"), std::string::npos);
  EXPECT_EQ(kv->kvs[0].value.find("\"hash\"") != std::string::npos, true);
  auto list = tokens_->List();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].bindings, p->bindings);
}

TEST_F(TokenBindingsTest, AGrantWithoutAnyRoleOrWithAdminInANamespaceIsRefused) {
  EXPECT_EQ(tokens_->Create("x", {}, "test").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tokens_->Create("x", {.bindings = {{"shop", Role::kAdmin}}}, "test").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(tokens_->Create("x", {.role = Role::kAdmin, .node = "n1"}, "test").error().code,
            ErrorCode::kInvalidArgument);
  auto empty = tokens_->List();
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty()) << "a refused token was stored";
}

TEST_F(TokenBindingsTest, SetGrantChangesWhatTheNextRequestMay) {
  auto t = tokens_->Create("ci", {.role = Role::kOperator}, "test");
  ASSERT_TRUE(t.has_value());
  ASSERT_EQ(tokens_->Authenticate(t->secret)->role, Role::kOperator);  // cached now
  auto g = tokens_->SetGrant(t->record.id, Role::kNone, {{"shop", Role::kViewer}});
  ASSERT_TRUE(g.has_value()) << g.error().message;
  auto p = tokens_->Authenticate(t->secret);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->role, Role::kNone);
  EXPECT_EQ(p->RoleIn("shop"), Role::kViewer);
  EXPECT_EQ(tokens_->SetGrant("0123456789abcdef", Role::kViewer, {}).error().code,
            ErrorCode::kNotFound);
  auto node = tokens_->Create("node-n1", {.role = Role::kOperator, .node = "n1"}, "test");
  ASSERT_TRUE(node.has_value());
  EXPECT_EQ(tokens_->SetGrant(node->record.id, Role::kAdmin, {}).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_F(TokenBindingsTest, ARecordWrittenBeforeBindingsStillReadsAsItsGlobalRole) {
  auto t = tokens_->Create("old", {.role = Role::kViewer}, "test");
  ASSERT_TRUE(t.has_value());
  auto kv = store_->Get("/security/tokens/" + t->record.id);
  ASSERT_TRUE(kv.has_value());
  auto j = ParseJson(kv->kvs[0].value);
  ASSERT_TRUE(j.has_value());
  EXPECT_FALSE(j->contains("bindings"));
  EXPECT_EQ((*j)["role"], "viewer");
  // A record with neither a role nor bindings (hand-edited, corrupt) authenticates nobody.
  j->erase("role");
  ASSERT_TRUE(store_->Put("/security/tokens/" + t->record.id, j->dump()).has_value());
  auto p = tokens_->Authenticate(t->secret);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace berth::security
