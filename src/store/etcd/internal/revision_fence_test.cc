// The fence answers every caller with a fetch that started after the caller arrived, and
// shares one fetch among the callers that waited together.
#include "store/etcd/internal/revision_fence.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace berth::store::etcd_internal {
namespace {

// Fetches the test completes by hand, in order.
struct ManualFetches {
  std::vector<RevisionFence::Callback> pending;
  RevisionFence::AsyncFetch Fn() {
    return [this](RevisionFence::Callback done) { pending.push_back(std::move(done)); };
  }
  void Complete(size_t i, int64_t revision) { pending.at(i)(revision); }
  void Fail(size_t i, const Error& e) { pending.at(i)(std::unexpected(e)); }
};

TEST(RevisionFenceTest, CallersArrivingDuringAFetchShareTheNextOne) {
  ManualFetches etcd;
  RevisionFence fence(etcd.Fn());
  std::vector<int64_t> got(5, 0);
  fence.FetchAsync([&](Result<int64_t> r) { got[0] = *r; });
  ASSERT_EQ(etcd.pending.size(), 1u);
  // These arrive while fetch 1 is in flight: it may have read etcd before their writes.
  for (int i = 1; i < 5; ++i) fence.FetchAsync([&, i](Result<int64_t> r) { got[i] = *r; });
  EXPECT_EQ(etcd.pending.size(), 1u) << "no second fetch while one is in flight";
  EXPECT_EQ(fence.waiting(), 5u);
  etcd.Complete(0, 100);
  EXPECT_EQ(got[0], 100);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(got[i], 0) << "not answered by the earlier fetch";
  ASSERT_EQ(etcd.pending.size(), 2u) << "the waiting callers started the next fetch";
  etcd.Complete(1, 200);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(got[i], 200);
  EXPECT_EQ(fence.fetches(), 2u);
  EXPECT_EQ(fence.waiting(), 0u);
}

TEST(RevisionFenceTest, AFinishedFetchNeverAnswersALaterCaller) {
  int64_t calls = 0;
  RevisionFence fence([&](RevisionFence::Callback done) { done(++calls); });
  EXPECT_EQ(*fence.Fetch(), 1);
  EXPECT_EQ(*fence.Fetch(), 2);
}

TEST(RevisionFenceTest, AFailedFetchFailsItsCallersOnly) {
  ManualFetches etcd;
  RevisionFence fence(etcd.Fn());
  Result<int64_t> first = 0, second = 0;
  fence.FetchAsync([&](Result<int64_t> r) { first = std::move(r); });
  fence.FetchAsync([&](Result<int64_t> r) { second = std::move(r); });
  etcd.Fail(0, Error(ErrorCode::kUnavailable, "etcd down"));
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, ErrorCode::kUnavailable);
  etcd.Complete(1, 7);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, 7);
}

TEST(RevisionFenceTest, FetchWaitsForAFetchCompletedOnAnotherThread) {
  std::vector<std::thread> threads;
  RevisionFence fence([&](RevisionFence::Callback done) {
    threads.emplace_back([done = std::move(done)] { done(42); });
  });
  EXPECT_EQ(*fence.Fetch(), 42);
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace berth::store::etcd_internal
