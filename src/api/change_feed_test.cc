#include "api/change_feed.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

std::string Names(const std::vector<ChangedObject>& objects) {
  std::string out;
  for (const auto& o : objects) {
    if (!out.empty()) out += " ";
    out +=
        o.topic + ":" + (o.ns.empty() ? "" : o.ns + "/") + o.name + (o.deleted ? "(deleted)" : "");
  }
  return out;
}

TEST(ChangeFeed, NamesTheAppOfEveryKeyThatDescribesIt) {
  EXPECT_EQ(Names(ClassifyKey("/apps/shop/shop", false)), "apps:shop/shop");
  EXPECT_EQ(Names(ClassifyKey("/apps/shop/shop", true)), "apps:shop/shop(deleted)");
  EXPECT_EQ(Names(ClassifyKey("/orchestrator/status/shop/shop", false)), "apps:shop/shop");
  EXPECT_EQ(Names(ClassifyKey("/orchestrator/rollouts/shop/shop/api", false)), "apps:shop/shop");
  EXPECT_EQ(Names(ClassifyKey("/orchestrator/events/shop/shop/0001733600000000-000001", false)),
            "apps:shop/shop");
}

TEST(ChangeFeed, AnAssignmentChangesItsAppAndItsNode) {
  EXPECT_EQ(Names(ClassifyKey("/nodes/n1/assignments/shop/shop/api-1", false)),
            "apps:shop/shop nodes:n1");
  EXPECT_EQ(Names(ClassifyKey("/nodes/n1/status/shop/shop/api-1", true)),
            "apps:shop/shop nodes:n1");
  EXPECT_EQ(Names(ClassifyKey("/nodes/n1", true)), "nodes:n1(deleted)");
}

TEST(ChangeFeed, RoutesAndRegistryServices) {
  EXPECT_EQ(Names(ClassifyKey("/gateway/routes/shop.shop.api", false)), "gateway:shop.shop.api");
  EXPECT_EQ(Names(ClassifyKey("/registry/shop/shop-api/api-1", true)), "registry:shop/shop-api");
}

TEST(ChangeFeed, KeysNobodyShowsAreLeftOut) {
  for (const char* key :
       {"/security/tokens/abc", "/security/audit/1-2+3", "/apps/shop", "/apps/shop/shop/extra",
        "/orchestrator/status/shop", "/load/gateway/g1", "/registry/shop", "/nodes/"}) {
    EXPECT_EQ(Names(ClassifyKey(key, false)), "") << key;
  }
}

}  // namespace
}  // namespace berth::api
