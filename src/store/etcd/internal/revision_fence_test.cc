// The fence answers every caller with a fetch that started after the caller arrived, and
// shares one fetch among the callers that waited together.
#include "store/etcd/internal/revision_fence.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <thread>
#include <vector>

namespace berth::store::etcd_internal {
namespace {

// A fetch the test releases by hand; each fetch returns its sequence number.
class GatedFetch {
 public:
  Result<int64_t> operator()() {
    std::unique_lock lock(mu_);
    int64_t mine = ++started_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_ >= mine; });
    if (fail_) return Fail(ErrorCode::kUnavailable, "etcd down");
    return mine * 100;
  }
  void WaitStarted(int64_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ >= n; });
  }
  void Release(int64_t n) {
    std::lock_guard lock(mu_);
    released_ = n;
    cv_.notify_all();
  }
  void FailFromNowOn() {
    std::lock_guard lock(mu_);
    fail_ = true;
  }
  int64_t started() {
    std::lock_guard lock(mu_);
    return started_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t started_ = 0;
  int64_t released_ = 0;
  bool fail_ = false;
};

TEST(RevisionFenceTest, CallersArrivingDuringAFetchWaitForTheNextOneAndShareIt) {
  GatedFetch gate;
  RevisionFence fence([&] { return gate(); });
  std::atomic<int64_t> first{0};
  std::thread a([&] { first = *fence.Fetch(); });
  gate.WaitStarted(1);
  // These arrive while fetch 1 is in flight: it may have read etcd before their writes.
  std::vector<std::thread> later;
  std::vector<int64_t> got(4, 0);
  for (int i = 0; i < 4; ++i) later.emplace_back([&, i] { got[i] = *fence.Fetch(); });
  // All four wait on the fence before fetch 1 ends (none can start a fetch meanwhile).
  while (fence.waiting() < 4) std::this_thread::yield();
  gate.Release(1);
  a.join();
  EXPECT_EQ(first.load(), 100);
  gate.WaitStarted(2);
  gate.Release(2);
  for (auto& t : later) t.join();
  for (int64_t g : got) EXPECT_EQ(g, 200) << "answered by the fetch that started after them";
  EXPECT_EQ(gate.started(), 2) << "four waiting callers shared one fetch";
  EXPECT_EQ(fence.fetches(), 2u);
}

TEST(RevisionFenceTest, ALoneCallerStartsItsOwnFetch) {
  int64_t calls = 0;
  RevisionFence fence([&]() -> Result<int64_t> { return ++calls; });
  EXPECT_EQ(*fence.Fetch(), 1);
  EXPECT_EQ(*fence.Fetch(), 2) << "a finished fetch never answers a later caller";
}

TEST(RevisionFenceTest, AFailedFetchFailsItsCallersAndTheNextOneRetries) {
  GatedFetch gate;
  RevisionFence fence([&] { return gate(); });
  gate.FailFromNowOn();
  gate.Release(1);
  auto failed = fence.Fetch();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(fence.fetches(), 1u);
}

}  // namespace
}  // namespace berth::store::etcd_internal
