#include "gateway/load_reporter.h"

#include <gtest/gtest.h>

#include "core/json.h"
#include "store/sqlite/temp_store.h"

namespace berth::gateway {
namespace {

class LoadReporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempSqliteStore::Open("load-test", clock_);
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
    store_ = &temp_->store();
  }
  void TearDown() override { temp_.reset(); }
  LoadReporter Make() {
    return LoadReporter(*store_, clock_, [this] { return totals_; },
                        {.id = "gw-1", .interval = std::chrono::seconds(5), .ttl_seconds = 15});
  }
  Json Stored() {
    auto r = store_->Get("/load/gateway/gw-1");
    EXPECT_TRUE(r);
    if (!r || r->kvs.empty()) return Json();
    auto j = ParseJson(r->kvs[0].value);
    return j ? *j : Json();
  }

  std::unique_ptr<store::TempSqliteStore> temp_;
  ManualClock clock_;
  store::Store* store_ = nullptr;
  std::map<std::string, uint64_t> totals_;
};

TEST_F(LoadReporterTest, ReportsRequestsPerSecondPerServiceUnderALease) {
  LoadReporter r = Make();
  totals_ = {{"shop/api", 100}, {"default/web", 0}};
  EXPECT_FALSE(*r.Report());  // a baseline, no rate yet
  EXPECT_TRUE(Stored().is_null());
  clock_.Advance(std::chrono::seconds(5));
  totals_ = {{"shop/api", 600}, {"default/web", 10}};
  EXPECT_TRUE(*r.Report());
  Json j = Stored();
  EXPECT_EQ(j["services"]["shop/api"]["rps"], 100.0);
  EXPECT_EQ(j["services"]["shop/api"]["requests"], 600);
  EXPECT_EQ(j["services"]["default/web"]["rps"], 2.0);
  EXPECT_EQ(j["window_ms"], 5000);
  auto kv = store_->Get("/load/gateway/gw-1");
  EXPECT_NE(kv->kvs.at(0).lease, 0);
  EXPECT_NE(
      r.RenderMetrics().find(
          "berth_gateway_service_requests_per_second{namespace=\"shop\",service=\"api\"} 100"),
      std::string::npos)
      << r.RenderMetrics();
}

TEST_F(LoadReporterTest, WritesOnlyWhenARateChanges) {
  LoadReporter r = Make();
  totals_ = {{"shop/api", 0}};
  (void)r.Report();
  clock_.Advance(std::chrono::seconds(5));
  EXPECT_TRUE(*r.Report());  // 0 req/s: written once (the lease is new)
  auto rev = store_->Get("/load/gateway/gw-1")->kvs.at(0).mod_revision;
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(std::chrono::seconds(5));
    EXPECT_FALSE(*r.Report());  // idle: nothing written
  }
  EXPECT_EQ(store_->Get("/load/gateway/gw-1")->kvs.at(0).mod_revision, rev);
  clock_.Advance(std::chrono::seconds(5));
  totals_ = {{"shop/api", 50}};
  EXPECT_TRUE(*r.Report());
  EXPECT_EQ(Stored()["services"]["shop/api"]["rps"], 10.0);
}

TEST_F(LoadReporterTest, ACounterThatWentBackCountsFromZeroAndStopRemovesTheKey) {
  LoadReporter r = Make();
  totals_ = {{"shop/api", 1000}};
  (void)r.Report();
  clock_.Advance(std::chrono::seconds(10));
  totals_ = {{"shop/api", 20}};  // the service's cluster was rebuilt
  EXPECT_TRUE(*r.Report());
  EXPECT_EQ(Stored()["services"]["shop/api"]["rps"], 2.0);
  r.Stop();
  EXPECT_TRUE(store_->Get("/load/gateway/gw-1")->kvs.empty());
}

TEST(DefaultGatewayId, IsTheHostAndPortInKeySafeCharacters) {
  std::string id = DefaultGatewayId("127.0.0.1:8080");
  EXPECT_TRUE(id.ends_with("-8080")) << id;
  for (char c : id) EXPECT_TRUE(std::islower(c) || std::isdigit(c) || c == '-' || c == '.') << id;
}

}  // namespace
}  // namespace berth::gateway
