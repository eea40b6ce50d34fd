#include "agent/backoff.h"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, GrowsByFactorUpToCap) {
  Backoff b({milliseconds(100), 2.0, milliseconds(1000), milliseconds(5000)});
  EXPECT_EQ(b.Next(milliseconds(0)), milliseconds(100));
  EXPECT_EQ(b.Next(milliseconds(0)), milliseconds(200));
  EXPECT_EQ(b.Next(milliseconds(0)), milliseconds(400));
  EXPECT_EQ(b.Next(milliseconds(0)), milliseconds(800));
  EXPECT_EQ(b.Next(milliseconds(0)), milliseconds(1000));
  EXPECT_EQ(b.Next(milliseconds(0)), milliseconds(1000));
  EXPECT_EQ(b.attempts(), 6u);
}

TEST(BackoffTest, ResetsAfterHealthyPeriod) {
  Backoff b({milliseconds(100), 3.0, milliseconds(10000), milliseconds(5000)});
  EXPECT_EQ(b.Next(milliseconds(10)), milliseconds(100));
  EXPECT_EQ(b.Next(milliseconds(10)), milliseconds(300));
  EXPECT_EQ(b.Next(milliseconds(4999)), milliseconds(900));
  EXPECT_EQ(b.Next(milliseconds(5000)), milliseconds(100));
  EXPECT_EQ(b.attempts(), 1u);
}

TEST(BackoffTest, FactorBelowOneDoesNotShrink) {
  Backoff b({milliseconds(100), 0.5, milliseconds(1000), milliseconds(5000)});
  EXPECT_EQ(b.Next(milliseconds(0)), milliseconds(100));
  EXPECT_EQ(b.Next(milliseconds(0)), milliseconds(100));
}

TEST(BackoffTest, HugeAttemptCountsStayAtCap) {
  Backoff b({milliseconds(100), 2.0, milliseconds(60000), milliseconds(5000)});
  EXPECT_EQ(b.DelayFor(5000), milliseconds(60000));
}

}  // namespace
}  // namespace berth::agent
