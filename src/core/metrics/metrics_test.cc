#include "core/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace berth::metrics {
namespace {

TEST(CounterTest, SumsIncrementsFromManyThreads) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Inc();
    });
  }
  for (auto& t : threads) t.join();
  c.Inc(5);
  c.Add(0.5);
  c.Add(-3);  // ignored: counters never go down
  EXPECT_DOUBLE_EQ(c.Value(), 80005.5);
}

TEST(GaugeTest, SetIncDec) {
  Gauge g;
  g.Set(10);
  g.Inc(2.5);
  g.Dec();
  EXPECT_DOUBLE_EQ(g.Value(), 11.5);
}

TEST(HistogramTest, CountsIntoCumulativeBucketsWithInclusiveUpperBounds) {
  Histogram h({1, 5, 10});
  for (double v : {0.5, 1.0, 3.0, 5.0, 7.0, 100.0}) h.Observe(v);
  h.Observe(std::nan(""));  // ignored
  auto s = h.Read();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 116.5);
}

TEST(HistogramTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(LinearBuckets(0, 5, 3), (std::vector<double>{0, 5, 10}));
  auto latency = DefaultLatencyBuckets();
  EXPECT_TRUE(std::is_sorted(latency.begin(), latency.end()));
}

TEST(RegistryTest, RendersTextFormat004) {
  Registry r;
  r.AddCounter("berth_requests_total", "Requests served.").Inc(3);
  r.AddGauge("berth_connections", "Open connections.\nSecond line with \\ backslash.").Set(2.5);
  auto& by_code =
      r.AddCounterFamily("berth_responses_total", "Responses by code.", {"method", "code"});
  by_code.WithLabels({"GET", "200"}).Inc(7);
  by_code.WithLabels({"POST", "500"}).Inc();
  by_code.WithLabels({"GET", "200"}).Inc();  // the same child
  auto& lat = r.AddHistogramFamily("berth_latency_seconds", "Latency.", {"route"}, {0.1, 1});
  lat.WithLabels({"a\"b\\c\nd"}).Observe(0.05);
  lat.WithLabels({"a\"b\\c\nd"}).Observe(2);
  r.AddHistogram("berth_sizes", "Sizes.", {10}).Observe(3);
  r.AddGaugeCallback("berth_queue_depth", "Depth.", [] { return 42.0; });

  EXPECT_EQ(r.Render(),
            "# HELP berth_requests_total Requests served.\n"
            "# TYPE berth_requests_total counter\n"
            "berth_requests_total 3\n"
            "# HELP berth_connections Open connections.\\nSecond line with \\\\ backslash.\n"
            "# TYPE berth_connections gauge\n"
            "berth_connections 2.5\n"
            "# HELP berth_responses_total Responses by code.\n"
            "# TYPE berth_responses_total counter\n"
            "berth_responses_total{method=\"GET\",code=\"200\"} 8\n"
            "berth_responses_total{method=\"POST\",code=\"500\"} 1\n"
            "# HELP berth_latency_seconds Latency.\n"
            "# TYPE berth_latency_seconds histogram\n"
            "berth_latency_seconds_bucket{route=\"a\\\"b\\\\c\\nd\",le=\"0.1\"} 1\n"
            "berth_latency_seconds_bucket{route=\"a\\\"b\\\\c\\nd\",le=\"1\"} 1\n"
            "berth_latency_seconds_bucket{route=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 2\n"
            "berth_latency_seconds_sum{route=\"a\\\"b\\\\c\\nd\"} 2.05\n"
            "berth_latency_seconds_count{route=\"a\\\"b\\\\c\\nd\"} 2\n"
            "# HELP berth_sizes Sizes.\n"
            "# TYPE berth_sizes histogram\n"
            "berth_sizes_bucket{le=\"10\"} 1\n"
            "berth_sizes_bucket{le=\"+Inf\"} 1\n"
            "berth_sizes_sum 3\n"
            "berth_sizes_count 1\n"
            "# HELP berth_queue_depth Depth.\n"
            "# TYPE berth_queue_depth gauge\n"
            "berth_queue_depth 42\n");
}

TEST(RegistryTest, ReRegisteringTheSameShapeReturnsTheSameMetric) {
  Registry r;
  Counter& a = r.AddCounter("x_total", "X.");
  Counter& b = r.AddCounter("x_total", "X.");
  EXPECT_EQ(&a, &b);
  auto& f1 = r.AddGaugeFamily("g", "G.", {"l"});
  auto& f2 = r.AddGaugeFamily("g", "G.", {"l"});
  EXPECT_EQ(&f1, &f2);
}

TEST(RegistryDeathTest, RejectsBadNamesAndShapes) {
  EXPECT_DEATH(Registry().AddCounter("1bad", "h"), "invalid metric name");
  EXPECT_DEATH(Registry().AddCounterFamily("ok", "h", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(Registry().AddCounterFamily("ok", "h", {"le"}), "invalid label name");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("m", "h");
        r.AddGauge("m", "h");
      },
      "registered twice");
  EXPECT_DEATH(Registry().AddCounterFamily("f", "h", {"a", "b"}).WithLabels({"only one"}),
               "label values");
  EXPECT_DEATH(Histogram({2, 1}), "ascending");
}

TEST(FormatTest, Values) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-2), "-2");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
}

TEST(RegistryTest, RenderRunsConcurrentlyWithUpdates) {
  Registry r;
  auto& fam = r.AddCounterFamily("c_total", "C.", {"k"});
  auto& h = r.AddHistogram("h", "H.", DefaultLatencyBuckets());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int i = 0;
    do {
      fam.WithLabels({std::to_string(i++ % 50)}).Inc();
      h.Observe(0.01);
    } while (!stop.load());
  });
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(r.Render().empty());
  stop = true;
  writer.join();
  EXPECT_NE(r.Render().find("c_total{k=\"0\"}"), std::string::npos);
}

}  // namespace
}  // namespace berth::metrics
