#include "logs/labels.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "logs/matcher.h"

namespace berth::logs {
namespace {

using ::testing::HasSubstr;

TEST(Labels, ParseSortsAndPrintsCanonically) {
  auto set = LabelSet::Parse(R"({namespace="shop", app="api"})");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->Canonical(), R"({app="api", namespace="shop"})");
  EXPECT_EQ(set->Get("app"), "api");
  EXPECT_EQ(set->Get("missing"), "");
}

TEST(Labels, HostileValuesRoundTripThroughTheCanonicalText) {
  std::string hostile = "a\"b\\c\nd}\t{e=\"f\x01";
  auto set = LabelSet::Make({{"app", hostile}, {"x", "}"}});
  ASSERT_TRUE(set) << set.error().message;
  auto back = LabelSet::Parse(set->Canonical());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->Get("app"), hostile);
  EXPECT_EQ(*back, *set);
}

TEST(Labels, ErrorsNameTheLabel) {
  auto bad_name = LabelSet::Make({{"9app", "x"}});
  ASSERT_FALSE(bad_name);
  EXPECT_THAT(bad_name.error().message, HasSubstr("\"9app\""));
  auto dup = LabelSet::Make({{"a", "1"}, {"a", "2"}});
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message, HasSubstr("label a appears twice"));
  auto empty = LabelSet::Make({{"a", ""}});
  ASSERT_FALSE(empty);
  EXPECT_THAT(empty.error().message, HasSubstr("label a has an empty value"));
  auto utf8 = LabelSet::Make({{"a", "\xff"}});
  ASSERT_FALSE(utf8);
  EXPECT_THAT(utf8.error().message, HasSubstr("not valid UTF-8"));
  std::vector<Label> many;
  for (int i = 0; i < 16; ++i) many.push_back({"l" + std::to_string(i), "v"});
  auto too_many = LabelSet::Make(many);
  ASSERT_FALSE(too_many);
  EXPECT_THAT(too_many.error().message, HasSubstr("16 labels, more than the limit of 15"));
}

TEST(Labels, ParseErrorsNameThePosition) {
  auto r = LabelSet::Parse(R"({app="a", env=~"x"})");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("expected = at position 14"));
  auto unterminated = LabelSet::Parse(R"({app="a)");
  ASSERT_FALSE(unterminated);
  EXPECT_THAT(unterminated.error().message, HasSubstr("line 1, col 6"));
  EXPECT_THAT(unterminated.error().message, HasSubstr("unterminated string"));
}

TEST(Labels, MatchersAreAnchoredAndKnowWhetherTheyMatchAbsentLabels) {
  auto re = LabelMatcher::Make("app", MatchOp::kRe, "api|web");
  ASSERT_TRUE(re);
  EXPECT_TRUE(re->Matches("api"));
  EXPECT_FALSE(re->Matches("api2"));
  EXPECT_FALSE(re->MatchesEmpty());
  auto nre = LabelMatcher::Make("app", MatchOp::kNre, "api.*");
  ASSERT_TRUE(nre);
  EXPECT_TRUE(nre->MatchesEmpty());
  auto bad = LabelMatcher::Make("app", MatchOp::kRe, "(unclosed");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("regex \"(unclosed\" of label app does not compile"));
}

}  // namespace
}  // namespace berth::logs
