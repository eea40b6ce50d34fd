#include "logs/analysis/pattern_trends.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

namespace berth::logs::analysis {
namespace {

TEST(PatternTrends, TemplatesWithCountsPerSliceAndNewOnesMarked) {
  PatternTrends t(0, 400, 4);  // slices of 100
  for (int i = 0; i < 40; ++i) {
    t.Add(fmt::format("user {} logged in from 10.0.0.{}", 1000 + i, i), i * 10);  // 0..390
  }
  for (int i = 0; i < 6; ++i) t.Add(fmt::format("disk /dev/sd{} is {}% full", i, 90 + i), 350);
  auto top = t.Top(0);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(t.lines(), 46u);
  EXPECT_EQ(top[0].pattern.tmpl, "user <*> logged in from <*>");
  EXPECT_EQ(top[0].pattern.count, 40u);
  EXPECT_EQ(top[0].trend, (std::vector<uint64_t>{10, 10, 10, 10}));
  EXPECT_FALSE(top[0].is_new);
  EXPECT_EQ(top[1].pattern.count, 6u);
  EXPECT_EQ(top[1].trend, (std::vector<uint64_t>{0, 0, 0, 6}));
  EXPECT_TRUE(top[1].is_new);
  EXPECT_EQ(t.Top(1).size(), 1u);
}

TEST(PatternTrends, TimesOutsideTheRangeCountInTheEdgeSlices) {
  PatternTrends t(1000, 2000, 2);
  t.Add("a b", 0);
  t.Add("a b", 5000);
  auto top = t.Top(0);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].trend, (std::vector<uint64_t>{1, 1}));
}

}  // namespace
}  // namespace berth::logs::analysis
