#include "agent/node/agent_containers.h"

#include <gtest/gtest.h>

namespace berth::agent::node {
namespace {

TEST(AgentContainersTest, PullsOnlyReferencesThatNameARegistryHost) {
  struct Case {
    const char* ref;
    bool names_registry;
  };
  for (const Case& c :
       {Case{"shop-api:v1", false}, Case{"shop/api:v1", false}, Case{"localhost/shop/api:1", true},
        Case{"localhost:5000/api", true}, Case{"registry.local/shop/api:1", true},
        Case{"127.0.0.1:5000/api:1", true}, Case{"", false}}) {
    EXPECT_EQ(NamesRegistry(c.ref), c.names_registry) << c.ref;
  }
}

TEST(AgentContainersTest, PullsFromALoopbackRegistryOverPlainHttp) {
  EXPECT_TRUE(PullsPlainHttp("localhost:5000/api:1"));
  EXPECT_TRUE(PullsPlainHttp("127.0.0.1:5000/api:1"));
  EXPECT_FALSE(PullsPlainHttp("registry.local:5000/api:1"));
}

}  // namespace
}  // namespace berth::agent::node
