// Prometheus metrics: counters, gauges and fixed-bucket histograms, alone or in families with
// label sets, collected in a Registry that renders the text exposition format 0.0.4 for
// /metrics.
//
// Declare once, keep the reference, update on the hot path:
//
//   auto& requests = registry.AddCounterFamily("berth_gateway_requests_total",
//                                              "Requests proxied.", {"route", "code"});
//   Counter& ok = requests.WithLabels({"api", "200"});   // look up once, cache the reference
//   ok.Inc();                                            // lock-free, sharded per thread
//
// References returned by Add*/WithLabels stay valid for the Registry's lifetime. Names and
// label names must be valid Prometheus identifiers; a bad name or re-registering a name with
// another type or other label names is a programming error and aborts.
// Thread-safety: everything is safe from any thread. Counter/Gauge/Histogram updates take
// no lock; WithLabels takes the family's mutex (cache its result on hot paths); Render takes
// the registry's and families' mutexes and reads values without stopping writers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace berth::metrics {

// Content-Type for a /metrics response.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

namespace internal {
inline constexpr size_t kShards = 8;
// This thread's shard (threads are spread round-robin over the shards).
size_t ShardIndex();

struct alignas(64) PaddedCounter {
  std::atomic<uint64_t> value{0};
};
}  // namespace internal

// A monotonically increasing count. Integer increments are sharded atomics; fractional
// amounts (Add) go to one shared atomic.
class Counter {
 public:
  void Inc(uint64_t n = 1) {
    shards_[internal::ShardIndex()].value.fetch_add(n, std::memory_order_relaxed);
  }
  // Adds a non-negative amount (seconds, bytes as double); negative amounts are ignored.
  void Add(double amount);
  double Value() const;

 private:
  std::array<internal::PaddedCounter, internal::kShards> shards_;
  std::atomic<double> fractional_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double d = 1) { value_.fetch_add(d, std::memory_order_relaxed); }
  void Dec(double d = 1) { value_.fetch_sub(d, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct alignas(64) Shard {
    std::unique_ptr<std::atomic<uint64_t>[]> buckets;  // bounds + 1 (+Inf)
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  std::array<Shard, internal::kShards> shards_;
};

// Bucket helpers: {start, start*factor, ...} and {start, start+width, ...}.
std::vector<double> ExponentialBuckets(double start, double factor, size_t count);
std::vector<double> LinearBuckets(double start, double width, size_t count);
// Latency buckets in seconds, 0.5 ms to 10 s.
std::vector<double> DefaultLatencyBuckets();

// A metric name with label names; one child per distinct label-value tuple.
template <typename Metric>
class Family {
 public:
  // The child for `values` (one per label name, in order), created on first use.
  // Aborts when the number of values differs from the number of label names.
  Metric& WithLabels(const std::vector<std::string>& values);
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  friend class Registry;
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<Metric>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;  // guarded by mu_
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& AddCounter(std::string_view name, std::string_view help);
  Gauge& AddGauge(std::string_view name, std::string_view help);
  Histogram& AddHistogram(std::string_view name, std::string_view help, std::vector<double> bounds);
  // A gauge read at render time (open connections, queue depth owned elsewhere). The
  // callback runs inside Render, on the scraping thread; it must outlive the Registry or
  // be cheap and safe to call until then.
  void AddGaugeCallback(std::string_view name, std::string_view help, std::function<double()> read);

  CounterFamily& AddCounterFamily(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names);
  GaugeFamily& AddGaugeFamily(std::string_view name, std::string_view help,
                              std::vector<std::string> label_names);
  HistogramFamily& AddHistogramFamily(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> bounds);

  // The text exposition format 0.0.4: HELP and TYPE lines, then samples, metrics in
  // registration order and children in label order.
  std::string Render() const;

 private:
  struct Entry;
  Entry& Register(std::string_view name, std::string_view help, int type,
                  const std::vector<std::string>& label_names);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;  // guarded by mu_
};

// Escaping used by Render, exposed for tests: HELP text escapes '\\' and '\n'; label
// values escape '\\', '"' and '\n'.
std::string EscapeHelp(std::string_view help);
std::string EscapeLabelValue(std::string_view value);
// Sample value formatting: integers without a fraction, "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);

}  // namespace berth::metrics
