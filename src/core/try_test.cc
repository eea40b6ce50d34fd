#include "core/try.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace berth {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return Fail(ErrorCode::kInvalidArgument, "odd");
  return v / 2;
}
Result<void> Even(int v) {
  if (v % 2 != 0) return Fail(ErrorCode::kFailedPrecondition, "not even");
  return {};
}

Result<int> Quarter(int v) {
  int h = BERTH_TRY(Half(v));
  return BERTH_TRY(Half(h));
}
Result<std::string> CheckBoth(int a, int b) {
  BERTH_TRY(Even(a));
  BERTH_TRY(Even(b));
  return "both even";
}
Result<int> QuarterWithContext(int v) {
  int h = BERTH_TRY_WRAP(Half(v), "first half of " + std::to_string(v));
  return BERTH_TRY_WRAP(Half(h), "second half");
}
Result<std::unique_ptr<int>> MoveOnly(bool ok) {
  if (!ok) return Fail(ErrorCode::kNotFound, "none");
  return std::make_unique<int>(7);
}
Result<int> UsesMoveOnly(bool ok) {
  std::unique_ptr<int> p = BERTH_TRY(MoveOnly(ok));
  return *p;
}

TEST(BerthTry, AssignsTheValueOrReturnsTheError) {
  EXPECT_EQ(Quarter(8).value(), 2);
  auto odd = Quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().message, "odd");
  EXPECT_EQ(odd.error().code, ErrorCode::kInvalidArgument);
}

TEST(BerthTry, PropagatesVoidResultsKeepingTheCode) {
  EXPECT_EQ(CheckBoth(2, 4).value(), "both even");
  auto r = CheckBoth(2, 3);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().message, "not even");
}

TEST(BerthTry, WrapPrefixesContextOnlyOnFailure) {
  EXPECT_EQ(QuarterWithContext(4).value(), 1);
  EXPECT_EQ(QuarterWithContext(3).error().message, "first half of 3: odd");
  EXPECT_EQ(QuarterWithContext(6).error().message, "second half: odd");
}

TEST(BerthTry, MovesMoveOnlyValues) {
  EXPECT_EQ(UsesMoveOnly(true).value(), 7);
  EXPECT_EQ(UsesMoveOnly(false).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace berth
