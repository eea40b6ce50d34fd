// The store contracts other components use: what they write parses as the gateway reads it.
#include <gtest/gtest.h>

#include "gateway/load_report.h"
#include "gateway/route_spec.h"
#include "gateway/router/config.h"

namespace berth::gateway {
namespace {

TEST(ServiceRoute, EncodesAnEntryTheRouteParserReadsBack) {
  ServiceRoute route{
      .name = "shop.shop.api",
      .owner = "app:shop/shop",
      .hosts = {"shop.example"},
      .path_prefix = "/api",
      .targets = {
          {.service = "api", .ns = "shop", .port = 8080, .tags = {"deploy=01"}, .weight = 90},
          {.service = "api", .ns = "shop", .tags = {"deploy=02"}, .weight = 10}}};
  const std::string json = EncodeServiceRoute(route);
  EXPECT_EQ(json,
            R"({"hosts":["shop.example"],"match":{"prefix":"/api"},"name":"shop.shop.api",)"
            R"("owner":"app:shop/shop","targets":[{"namespace":"shop","port":8080,"service":"api",)"
            R"("tags":["deploy=01"],"weight":90},{"namespace":"shop","service":"api",)"
            R"("tags":["deploy=02"],"weight":10}]})");
  auto parsed = router::ParseRouteEntry(json, "stored route");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->owner, "app:shop/shop");
  EXPECT_EQ(parsed->route->total_weight, 100u);
  EXPECT_EQ(RouteOwner(json), "app:shop/shop");
  EXPECT_EQ(RouteOwner("not json"), "");
  EXPECT_EQ(RouteOwner(R"({"name":"x"})"), "");
}

TEST(LoadReport, RoundTripsAndRefusesWhatIsNotAReport) {
  LoadReport r{.time_ms = 1700,
               .window_ms = 5000,
               .services = {{"shop/api", {.rps = 12.5, .requests = 300}}}};
  auto back = DecodeLoadReport(EncodeLoadReport(r));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->time_ms, 1700);
  EXPECT_EQ(back->window_ms, 5000);
  EXPECT_EQ(back->services.at("shop/api").rps, 12.5);
  EXPECT_EQ(back->services.at("shop/api").requests, 300u);

  auto negative = DecodeLoadReport(R"({"services": {"a/b": {"rps": -1}}})");
  ASSERT_FALSE(negative.has_value());
  EXPECT_EQ(negative.error().message,
            "gateway load report:1:30: services[\"a/b\"].rps: must be a number from 0 to "
            "1000000000000000, got -1");
  EXPECT_FALSE(DecodeLoadReport(R"({"time_ms": 1})").has_value());
  EXPECT_FALSE(DecodeLoadReport("[]").has_value());
}

}  // namespace
}  // namespace berth::gateway
