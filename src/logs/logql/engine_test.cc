#include "logs/logql/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "logs/log_store.h"
#include "logs/logql/parser.h"
#include "logs/testing/mem_env.h"

namespace berth::logs::logql {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSec = 1'000'000'000;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogStoreOptions o;
    o.dir = "/logs";
    o.background = false;
    o.chunk_target_bytes = 2048;  // many chunks, some heads
    auto s = LogStore::Open(o, env_, clock_);
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
    t0_ = (clock_.WallMillis() - 3600'000) * 1'000'000;
    // gateway access log: one line a second for an hour, every 10th a 500, latency grows.
    PushRequest req;
    PushStream gw{*LabelSet::Parse(R"({app="gw", namespace="shop"})"), {}};
    for (int i = 0; i < 3600; ++i) {
      int status = i % 10 == 0 ? 500 : 200;
      gw.entries.push_back(
          {t0_ + i * kSec, fmt("level=info route=/api status={} latency={}ms", status, i % 100)});
    }
    req.streams.push_back(std::move(gw));
    PushStream app{*LabelSet::Parse(R"({app="api", namespace="shop"})"), {}};
    for (int i = 0; i < 600; ++i) {
      app.entries.push_back({t0_ + i * 6 * kSec,
                             i % 3 == 0 ? R"({"level":"error","msg":"db timeout","user":{"id":7}})"
                                        : R"({"level":"info","msg":"ok","user":{"id":8}})"});
    }
    req.streams.push_back(std::move(app));
    PushStream other{*LabelSet::Parse(R"({app="gw", namespace="bank"})"), {}};
    other.entries.push_back({t0_, "level=error route=/secret status=500 latency=1ms"});
    req.streams.push_back(std::move(other));
    auto r = store_->Push(std::move(req));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->accepted, 4201u);
    ASSERT_TRUE(store_->Flush());
  }
  template <typename... A>
  static std::string fmt(std::string_view f, A... a) {
    return ::fmt::format(::fmt::runtime(f), a...);
  }
  Result<QueryResult> Query(std::string_view q, QueryParams p) {
    auto e = Parse(q);
    if (!e) return std::unexpected(e.error());
    Engine engine(*store_, 2);
    return engine.Run(*e, p);
  }
  QueryParams Range(int64_t step = 0) {
    QueryParams p;
    p.start_ns = t0_;
    p.end_ns = t0_ + 3600 * kSec - 1;  // windows are (end - range, end]: t0 is in
    p.step_ns = step;
    return p;
  }

  testing::MemEnv env_;
  ManualClock clock_;
  std::unique_ptr<LogStore> store_;
  int64_t t0_ = 0;
};

TEST_F(EngineTest, LineFilterReturnsNewestFirstUpToTheLimit) {
  auto p = Range();
  p.limit = 5;
  auto r = Query(R"q({app="gw", namespace="shop"} |= "status=500")q", p);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->streams.size(), 1u);
  const auto& e = r->streams[0].entries;
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0].first, t0_ + 3590 * kSec);
  EXPECT_EQ(e[4].first, t0_ + 3550 * kSec);
  p.forward = true;
  auto f = Query(R"q({app="gw", namespace="shop"} |= "status=500")q", p);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->streams[0].entries[0].first, t0_);
}

TEST_F(EngineTest, NamespacesTheCallerMayNotReadAreNeverSelected) {
  auto p = Range();
  p.ns_allowed = [](std::string_view ns) { return ns == "shop"; };
  auto r = Query(R"q({app="gw"} |= "secret")q", p);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->streams.empty());
  p.ns_allowed = nullptr;
  r = Query(R"q({app="gw"} |= "secret")q", p);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->streams.size(), 1u);
}

TEST_F(EngineTest, CountOverTimeCountsEveryMatchingLine) {
  auto p = Range();
  auto r = Query(R"q(sum(count_over_time({namespace="shop", app="gw"} |= "status=500" [1h])))q", p);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kind, QueryResult::Kind::kVector);
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_DOUBLE_EQ(r->series[0].points[0].second, 360);
}

TEST_F(EngineTest, RateByAParsedLabelOverSteps) {
  auto r = Query(R"q(sum by (status) (rate({app="gw", namespace="shop"} | logfmt [1m])))q",
                 Range(600 * kSec));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kind, QueryResult::Kind::kMatrix);
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_EQ(r->series[0].metric, (std::vector<Label>{{"status", "200"}}));
  // One line a second, 1 in 10 a 500: 0.9/s and 0.1/s in every full minute.
  for (const auto& [t, v] : r->series[0].points) {
    if (t > t0_ + 60 * kSec && t < t0_ + 3599 * kSec) {
      EXPECT_NEAR(v, 0.9, 1e-9);
    }
  }
  for (const auto& [t, v] : r->series[1].points) {
    if (t > t0_ + 60 * kSec && t < t0_ + 3599 * kSec) {
      EXPECT_NEAR(v, 0.1, 1e-9);
    }
  }
}

TEST_F(EngineTest, QuantileOverTimeWithUnwrappedDurations) {
  auto r = Query(
      R"q(quantile_over_time(0.99, {app="gw", namespace="shop"} | logfmt | unwrap duration(latency) [1h]) by (route))q",
      Range());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(r->series[0].metric, (std::vector<Label>{{"route", "/api"}}));
  EXPECT_NEAR(r->series[0].points[0].second, 0.099, 0.0011);  // latencies 0..99 ms
}

TEST_F(EngineTest, JsonParserLabelFilterAndLineFormat) {
  auto p = Range();
  p.limit = 1000;
  auto r = Query(
      R"q({app="api"} | json | level="error" and user_id == 7 | line_format "{{.level}}: {{.msg}}")q",
      p);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->streams.size(), 1u);
  EXPECT_EQ(r->streams[0].entries.size(), 200u);
  EXPECT_EQ(r->streams[0].entries[0].second, "error: db timeout");
  bool has_level = false;
  for (const auto& l : r->streams[0].labels) has_level |= l.name == "level" && l.value == "error";
  EXPECT_TRUE(has_level);
}

TEST_F(EngineTest, TopkAndBinaryOperators) {
  auto r = Query(R"q(topk(1, sum by (app) (count_over_time({namespace="shop"} [1h]))))q", Range());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(r->series[0].metric, (std::vector<Label>{{"app", "gw"}}));
  auto ratio = Query(
      R"q(sum(count_over_time({app="gw", namespace="shop"} |= "status=500" [1h])) / sum(count_over_time({app="gw", namespace="shop"}[1h])))q",
      Range());
  ASSERT_TRUE(ratio) << ratio.error().message;
  ASSERT_EQ(ratio->series.size(), 1u);
  EXPECT_DOUBLE_EQ(ratio->series[0].points[0].second, 0.1);
  auto none = Query(R"q(sum(count_over_time({app="gw", namespace="shop"}[1h])) > 5000)q", Range());
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->series.empty());
}

TEST_F(EngineTest, VectorLiteralsAnswerGrafanasHealthCheck) {
  auto r = Query("vector(1)+vector(1)", Range());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->kind, QueryResult::Kind::kVector);
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_DOUBLE_EQ(r->series[0].points[0].second, 2);
}

TEST_F(EngineTest, PatternAndRegexpExtractLabels) {
  auto p = Range();
  p.limit = 3;
  auto r = Query(
      R"q(sum by (code) (count_over_time({app="gw", namespace="shop"} | pattern "level=<_> route=<_> status=<code> <_>" [1h])))q",
      Range());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_DOUBLE_EQ(r->series[1].points[0].second, 360);  // code=500
  auto re = Query(
      R"q(sum by (ms) (count_over_time({app="gw", namespace="shop"} | regexp "latency=(?P<ms>\\d+)ms" | ms > 97 [1h])))q",
      Range());
  ASSERT_TRUE(re) << re.error().message;
  EXPECT_EQ(re->series.size(), 2u);  // 98 and 99
}

TEST_F(EngineTest, ARangeCrossingRetentionReturnsWhatRemains) {
  auto p = Range();
  p.start_ns = t0_ - 24 * 3600 * kSec;
  p.limit = 10000;
  auto r = Query(R"q({app="gw", namespace="shop"})q", p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->streams[0].entries.size(), 3600u);
}

TEST_F(EngineTest, TooManySeriesIsAClearError) {
  auto p = Range();
  p.max_series = 10;
  auto r = Query(R"q(count_over_time({app="gw", namespace="shop"} | logfmt [1h]))q", p);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("more than 10 series"));
}

}  // namespace
}  // namespace berth::logs::logql
