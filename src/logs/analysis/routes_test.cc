#include "logs/analysis/routes.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>

namespace berth::logs::analysis {
namespace {

const FieldOf kNoFields = [](std::string_view) { return std::string_view(); };

TEST(ReadAccessRecord, ReadsTheGatewaysJsonLinesAndExtractedFields) {
  // As gateway/server/access_log.cc writes it.
  auto json = ReadAccessRecord(
      R"({"time":"2026-12-07T22:40:01.123Z","route":"shop-api","cluster":"shop/api","upstream":"10.0.0.5:8080","method":"GET","path":"/api/items","status":503,"bytes_in":0,"bytes_out":12,"duration_ms":41.5,"attempts":1,"request_id":"r1","client":"127.0.0.1"})",
      kNoFields);
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ(json->route, "shop-api");
  EXPECT_EQ(json->upstream, "10.0.0.5:8080");
  EXPECT_EQ(json->status, 503);
  EXPECT_DOUBLE_EQ(json->duration_ms, 41.5);

  // `| logfmt` extracted route, status and a duration with its unit.
  std::map<std::string, std::string, std::less<>> fields{
      {"route", "/api/items"}, {"status", "200"}, {"duration", "1.5s"}};
  auto extracted = ReadAccessRecord("level=info route=/api/items ...", [&](std::string_view n) {
    auto it = fields.find(n);
    return it == fields.end() ? std::string_view() : std::string_view(it->second);
  });
  ASSERT_TRUE(extracted.has_value());
  EXPECT_EQ(extracted->route, "/api/items");
  EXPECT_DOUBLE_EQ(extracted->duration_ms, 1500);
  EXPECT_EQ(extracted->upstream, "");
}

TEST(ReadAccessRecord, LinesWithoutRouteOrDurationAreNotAccessRecords) {
  for (const char* line : {"GET /api 200", R"({"route":"x"})", R"({"duration_ms":3})",
                           R"({"route":"x","duration":"soon"})", "{not json", "[1,2]"}) {
    EXPECT_FALSE(ReadAccessRecord(line, kNoFields).has_value()) << line;
  }
}

TEST(RouteLatencies, PercentilesPerRouteAndUpstreamSlowestFirst) {
  RouteLatencies r;
  // fast: 1..100 ms on one upstream; slow: 100 records, one of them 5 s, on two upstreams.
  for (int i = 1; i <= 100; ++i) r.Add({"fast", "a:1", i % 10 == 0 ? 500 : 200, double(i)});
  for (int i = 1; i <= 100; ++i) {
    r.Add({"slow", i <= 50 ? "b:1" : "b:2", 200, i == 100 ? 5000.0 : 200.0 + i});
  }
  auto routes = r.Routes();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(r.records(), 200u);
  EXPECT_EQ(routes[0].route, "slow");
  EXPECT_DOUBLE_EQ(routes[0].all.max_ms, 5000);
  EXPECT_DOUBLE_EQ(routes[0].all.p99_ms, 299);  // the 99th of 100 by nearest rank
  EXPECT_EQ(routes[0].upstreams.size(), 2u);
  EXPECT_EQ(routes[0].upstreams[0].first, "b:2");  // holds the 5 s one
  EXPECT_DOUBLE_EQ(routes[0].upstreams[0].second.p99_ms, 5000);
  const Latency& fast = routes[1].all;
  EXPECT_EQ(fast.count, 100u);
  EXPECT_EQ(fast.errors, 10u);
  EXPECT_DOUBLE_EQ(fast.p50_ms, 50);
  EXPECT_DOUBLE_EQ(fast.p95_ms, 95);
  EXPECT_DOUBLE_EQ(fast.p99_ms, 99);
  EXPECT_DOUBLE_EQ(fast.max_ms, 100);
}

TEST(RouteLatencies, OneRecordIsEveryPercentile) {
  RouteLatencies r;
  r.Add({"x", "", 200, 7});
  auto routes = r.Routes();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_DOUBLE_EQ(routes[0].all.p50_ms, 7);
  EXPECT_DOUBLE_EQ(routes[0].all.p99_ms, 7);
}

}  // namespace
}  // namespace berth::logs::analysis
