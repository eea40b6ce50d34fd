#include "gateway/server/retry_state.h"

#include <gtest/gtest.h>

#include "gateway/server/cluster_manager.h"
#include "gateway/server/stats.h"

namespace berth::gateway::server {
namespace {

router::RetryPolicy Policy(uint32_t attempts, std::vector<int> statuses = {503}) {
  router::RetryPolicy p;
  p.attempts = attempts;
  p.on_statuses = std::move(statuses);
  return p;
}

TEST(RetryStateTest, ConnectFailureIsRetriedForAnyMethodWhileAttemptsLast) {
  ClusterLoad load;
  ClusterStats stats;
  auto policy = Policy(2);
  RetryState retry(policy, load, stats, /*idempotent=*/false, /*has_body=*/true);
  EXPECT_TRUE(retry.RetryOnConnectFailure());
  EXPECT_TRUE(retry.RetryOnConnectFailure());
  EXPECT_FALSE(retry.RetryOnConnectFailure());
  EXPECT_EQ(stats.retries.value(), 2u);
  policy.on_connect_failure = false;
  RetryState off(policy, load, stats, true, false);
  EXPECT_FALSE(off.RetryOnConnectFailure());
}

TEST(RetryStateTest, StatusIsRetriedOnlyWhenListedForIdempotentBodilessRequests) {
  ClusterLoad load;
  ClusterStats stats;
  const auto policy = Policy(5, {502, 503});
  RetryState get(policy, load, stats, true, false);
  EXPECT_TRUE(get.RetryOnStatus(503));
  EXPECT_FALSE(get.RetryOnStatus(500));  // not listed
  EXPECT_FALSE(get.RetryOnStatus(404));
  EXPECT_TRUE(get.RetryOnReset());  // as a 502
  RetryState post(policy, load, stats, false, true);
  EXPECT_FALSE(post.RetryOnStatus(503));
  RetryState put_with_body(policy, load, stats, true, true);
  EXPECT_FALSE(put_with_body.RetryOnStatus(503));
  const auto only_503 = Policy(5, {503});
  RetryState not_on_reset(only_503, load, stats, true, false);
  EXPECT_FALSE(not_on_reset.RetryOnReset());
}

TEST(RetryStateTest, BudgetBoundsConcurrentRetriesAndIsGivenBack) {
  ClusterLoad load;
  ClusterStats stats;
  auto policy = Policy(3);
  policy.budget_percent = 20;
  policy.min_retry_concurrency = 2;
  load.active_requests = 5;  // 20% of 5 is 1: the minimum of 2 applies
  {
    RetryState a(policy, load, stats, true, false), b(policy, load, stats, true, false),
        c(policy, load, stats, true, false);
    EXPECT_TRUE(a.RetryOnConnectFailure());
    EXPECT_TRUE(a.RetryOnConnectFailure());  // the same request holds one slot only
    EXPECT_TRUE(b.RetryOnConnectFailure());
    EXPECT_EQ(load.active_retries, 2u);
    EXPECT_FALSE(c.RetryOnConnectFailure());  // budget spent
    load.active_requests = 20;                // 20% of 20 is 4
    EXPECT_TRUE(c.RetryOnConnectFailure());
    EXPECT_EQ(load.active_retries, 3u);
  }
  EXPECT_EQ(load.active_retries, 0u);
}

TEST(RetryStateTest, StaleKeepAliveConnectionIsRetriedOnceWithoutUsingARetry) {
  ClusterLoad load;
  ClusterStats stats;
  const auto policy = Policy(0);
  RetryState retry(policy, load, stats, false, true);
  EXPECT_FALSE(retry.RetryStaleConnection(/*body_sent=*/true, false));
  EXPECT_TRUE(retry.RetryStaleConnection(false, false));
  EXPECT_FALSE(retry.RetryStaleConnection(false, false));  // once
  EXPECT_EQ(stats.retries.value(), 0u);
  // After the head went out, a non-idempotent request with a body is not replayed.
  RetryState post(policy, load, stats, false, true);
  EXPECT_FALSE(post.RetryStaleConnection(false, /*idempotent_only=*/true));
  RetryState bodiless_post(policy, load, stats, false, false);
  EXPECT_TRUE(bodiless_post.RetryStaleConnection(false, true));
}

}  // namespace
}  // namespace berth::gateway::server
