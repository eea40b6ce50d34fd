#include "core/wake_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace berth {
namespace {

TEST(WakeBatchTest, WithoutAnOpenBatchNothingIsDeferred) {
  bool ran = false;
  EXPECT_FALSE(WakeBatch::Defer([&] { ran = true; }));
  EXPECT_FALSE(ran);
}

TEST(WakeBatchTest, DeferredWakeUpsRunInOrderWhenTheOutermostBatchCloses) {
  std::string order;
  {
    WakeBatch outer;
    EXPECT_TRUE(WakeBatch::Defer([&] { order += 'a'; }));
    {
      WakeBatch inner;
      EXPECT_TRUE(WakeBatch::Defer([&] { order += 'b'; }));
    }
    EXPECT_EQ(order, "");  // the inner batch joined the outer one
    EXPECT_TRUE(WakeBatch::Defer([&] { order += 'c'; }));
    EXPECT_EQ(order, "");
  }
  EXPECT_EQ(order, "abc");
  // Closed: wake-ups are not kept any more.
  EXPECT_FALSE(WakeBatch::Defer([&] { order += 'd'; }));
  EXPECT_EQ(order, "abc");
}

TEST(WakeBatchTest, AWakeUpThatDefersAgainRunsBeforeTheBatchCloses) {
  std::string order;
  {
    WakeBatch batch;
    WakeBatch::Defer([&] {
      order += 'a';
      EXPECT_TRUE(WakeBatch::Defer([&] { order += 'b'; }));
    });
  }
  EXPECT_EQ(order, "ab");
  EXPECT_FALSE(WakeBatch::Defer([] {}));
}

TEST(WakeBatchTest, ABatchBelongsToItsThread) {
  WakeBatch batch;
  bool other_deferred = true;
  std::thread([&] { other_deferred = WakeBatch::Defer([] {}); }).join();
  EXPECT_FALSE(other_deferred);
}

}  // namespace
}  // namespace berth
