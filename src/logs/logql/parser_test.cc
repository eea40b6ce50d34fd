#include "logs/logql/parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth::logs::logql {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(std::string_view q) {
  auto r = Parse(q);
  return r ? "(parsed)" : r.error().message;
}

TEST(LogqlParser, ParsesALogQueryWithEveryKindOfStage) {
  auto e = Parse(
      R"q({app="api", env=~"prod|staging"} |= "error" != "timeout" |~ "5\\d\\d" | json | status >= 500 and duration > 250ms | line_format "{{.status}} {{ .path }}")q");
  ASSERT_TRUE(e) << e.error().message;
  const auto& log = std::get<LogQuery>(e->node);
  ASSERT_EQ(log.matchers.size(), 2u);
  EXPECT_EQ(log.matchers[1].op(), MatchOp::kRe);
  ASSERT_EQ(log.pipeline.size(), 6u);
  EXPECT_EQ(log.pipeline[0].line_filter.op, LineFilter::Op::kContains);
  EXPECT_EQ(log.pipeline[1].line_filter.op, LineFilter::Op::kNotContains);
  EXPECT_EQ(log.pipeline[2].line_filter.op, LineFilter::Op::kMatches);
  EXPECT_EQ(log.pipeline[3].parser.kind, Parser::Kind::kJson);
  const auto& f = *log.pipeline[4].label_filter;
  ASSERT_EQ(f.kind, LabelFilter::Kind::kAnd);
  EXPECT_EQ(f.right->unit, LabelFilter::Unit::kDuration);
  EXPECT_DOUBLE_EQ(f.right->value, 0.25);
  ASSERT_EQ(log.pipeline[5].line_format.parts.size(), 3u);
  EXPECT_EQ(log.pipeline[5].line_format.parts[2].text, "path");
}

TEST(LogqlParser, ParsesMetricQueries) {
  auto e = Parse(R"q(topk(5, sum by (route) (rate({app="gw"} | logfmt | status=~"5.." [5m]))))q");
  ASSERT_TRUE(e) << e.error().message;
  const auto& top = std::get<VectorAggregation>(e->node);
  EXPECT_EQ(top.op, VectorAggregation::Op::kTopk);
  EXPECT_EQ(top.param, 5);
  const auto& sum = std::get<VectorAggregation>(top.inner->node);
  EXPECT_EQ(sum.grouping, std::vector<std::string>{"route"});
  const auto& rate = std::get<RangeAggregation>(sum.inner->node);
  EXPECT_EQ(rate.fn, RangeAggregation::Fn::kRate);
  EXPECT_EQ(rate.range_ns, 300'000'000'000);

  auto q = Parse(
      R"q(quantile_over_time(0.99, {app="gw"} | json | unwrap duration(latency) | latency < 10s [1m]) by (route))q");
  ASSERT_TRUE(q) << q.error().message;
  const auto& qq = std::get<RangeAggregation>(q->node);
  EXPECT_EQ(qq.unwrap, "latency");
  EXPECT_EQ(qq.conversion, RangeAggregation::Conversion::kDuration);
  EXPECT_EQ(qq.post_unwrap.size(), 1u);
  EXPECT_EQ(qq.log.pipeline.size(), 1u);
  EXPECT_EQ(*qq.grouping, std::vector<std::string>{"route"});

  auto ratio = Parse(R"q(sum(rate({app="a"} |= "error" [5m])) / sum(rate({app="a"}[5m])) > 0.05)q");
  ASSERT_TRUE(ratio) << ratio.error().message;
  EXPECT_EQ(std::get<BinaryOp>(ratio->node).op, BinaryOp::Op::kGt);

  auto after = Parse(R"q(count_over_time({app="a"}[5m] |= "x"))q");
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(std::get<RangeAggregation>(after->node).log.pipeline.size(), 1u);
}

TEST(LogqlParser, PatternAndRegexpParsersCheckTheirArguments) {
  auto p = Parse(R"q({app="a"} | pattern "<ip> - <_> [<ts>] \"<method> <path> <_>\" <status>")q");
  ASSERT_TRUE(p) << p.error().message;
  const auto& parts = std::get<LogQuery>(p->node).pipeline[0].parser.parts;
  EXPECT_TRUE(parts[0].capture);
  EXPECT_EQ(parts[0].text, "ip");
  EXPECT_EQ(parts[1].text, " - ");
  EXPECT_THAT(ErrorOf(R"q({app="a"} | pattern "<a><b>")q"), HasSubstr("two captures in a row"));
  EXPECT_THAT(ErrorOf(R"q({app="a"} | pattern "no captures")q"), HasSubstr("captures nothing"));
  auto r = Parse(R"q({app="a"} | regexp "(?P<status>\\d{3}) (?P<size>\\d+)")q");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(std::get<LogQuery>(r->node).pipeline[0].parser.re_names,
            (std::vector<std::string>{"status", "size"}));
  EXPECT_THAT(ErrorOf(R"q({app="a"} | regexp "(\\d+)")q"),
              HasSubstr("needs at least one named group"));
}

TEST(LogqlParser, ErrorsNameTheLineAndColumn) {
  EXPECT_EQ(ErrorOf(R"q({app="a" env="b"})q"),
            R"q(parse error at line 1, col 10: expected "," or "}" after a matcher, found "env")q");
  EXPECT_EQ(ErrorOf(R"q({app="a"} |= )q"),
            "parse error at line 1, col 14: expected a quoted string after |=, found end of query");
  EXPECT_THAT(ErrorOf(R"q({app=~"(a"})q"),
              HasSubstr("line 1, col 7: regex \"(a\" of label app does not compile"));
  EXPECT_THAT(ErrorOf(R"q({app="a"} |~ "[z-a]")q"),
              HasSubstr("line 1, col 14: regex string \"[z-a]\" does not compile"));
  EXPECT_THAT(ErrorOf("{app=\"a\"}\n| bogus"),
              HasSubstr("line 2, col 3: unknown pipeline stage \"bogus\""));
  EXPECT_THAT(ErrorOf(R"q(rate({app="a"}))q"),
              HasSubstr("line 1, col 15: rate needs a range such as [5m]"));
  EXPECT_THAT(ErrorOf(R"q({app="a"}[5m])q"),
              HasSubstr("col 10: a range [5m] needs a range function"));
  EXPECT_THAT(ErrorOf(R"q(sum({app="a"}))q"), HasSubstr("col 5: aggregations take metric queries"));
  EXPECT_THAT(ErrorOf(R"q({app=""})q"),
              HasSubstr("col 1: a stream selector needs at least one matcher"));
  EXPECT_THAT(ErrorOf(R"q(sum_over_time({app="a"}[5m]))q"), HasSubstr("needs an unwrapped label"));
  EXPECT_THAT(ErrorOf(R"q(count_over_time({app="a"} | unwrap x [5m]))q"),
              HasSubstr("takes no unwrap"));
  EXPECT_THAT(ErrorOf(R"q({app="a"} | status > "x")q"),
              HasSubstr("col 22: expected a value after status >"));
  EXPECT_THAT(ErrorOf(R"q({app="a"} | line_format "{{ if .x }}")q"), HasSubstr("is not supported"));
  EXPECT_THAT(ErrorOf(R"q(topk(0, rate({app="a"}[1m])))q"),
              HasSubstr("col 6: topk and bottomk take a whole number"));
  EXPECT_THAT(ErrorOf(R"q({app="a"} @)q"), HasSubstr("col 11: unexpected '@'"));
  EXPECT_THAT(ErrorOf(R"q({app="a\q"})q"), HasSubstr("col 8: unknown escape \\q"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("the query is empty"));
  EXPECT_THAT(ErrorOf(std::string(100, '(')), HasSubstr("nests too deeply"));
  EXPECT_THAT(ErrorOf(R"q(rate({app="a"}[5x]))q"),
              HasSubstr("col 16: \"5x\" is not a number, duration or byte size"));
}

TEST(LogqlParser, SelectorAloneForTail) {
  auto m = ParseSelector(R"q({namespace="shop", app!="db"})q");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->size(), 2u);
  EXPECT_FALSE(ParseSelector(R"q({app="a"} |= "x")q"));
}

}  // namespace
}  // namespace berth::logs::logql
