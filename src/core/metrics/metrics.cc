#include "core/metrics/metrics.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace berth::metrics {
namespace {

enum Type { kCounter, kGauge, kHistogram, kGaugeCallback };

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::abort();
}

bool ValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string_view TypeName(int type) {
  switch (type) {
    case kCounter:
      return "counter";
    case kHistogram:
      return "histogram";
    default:
      return "gauge";
  }
}

// `{a="x",b="y"` without the closing brace (so "le" can be appended), or "" for no labels.
std::string LabelPrefix(const std::vector<std::string>& names,
                        const std::vector<std::string>& values) {
  if (names.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(names[i]).append("=\"").append(EscapeLabelValue(values[i])).append("\"");
  }
  return out;
}

std::string Close(const std::string& prefix) { return prefix.empty() ? prefix : prefix + "}"; }

void AppendHistogram(std::string& out, const std::string& name, const std::string& prefix,
                     const Histogram& h) {
  Histogram::Snapshot s = h.Read();
  std::string open = prefix.empty() ? "{" : prefix + ",";
  for (size_t i = 0; i < h.bounds().size(); ++i) {
    out.append(fmt::format("{}_bucket{}le=\"{}\"}} {}\n", name, open, FormatValue(h.bounds()[i]),
                           s.cumulative[i]));
  }
  out.append(fmt::format("{}_bucket{}le=\"+Inf\"}} {}\n", name, open, s.count));
  out.append(fmt::format("{}_sum{} {}\n", name, Close(prefix), FormatValue(s.sum)));
  out.append(fmt::format("{}_count{} {}\n", name, Close(prefix), s.count));
}

}  // namespace

namespace internal {
size_t ShardIndex() {
  static std::atomic<size_t> next{0};
  thread_local size_t index = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return index;
}
}  // namespace internal

// --- Counter, Histogram -------------------------------------------------------------------

void Counter::Add(double amount) {
  if (!(amount > 0)) return;  // negative or NaN: a counter never goes down
  fractional_.fetch_add(amount, std::memory_order_relaxed);
}

double Counter::Value() const {
  uint64_t total = 0;
  for (const auto& s : shards_) total += s.value.load(std::memory_order_relaxed);
  return static_cast<double>(total) + fractional_.load(std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    Die("histogram bucket bounds must be strictly ascending");
  }
  if (!bounds_.empty() && std::isinf(bounds_.back()) && bounds_.back() > 0) bounds_.pop_back();
  for (auto& shard : shards_) {
    shard.buckets = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  }
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  size_t bucket =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  Shard& shard = shards_[internal::ShardIndex()];
  shard.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  shard.sum.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  std::vector<uint64_t> counts(bounds_.size() + 1, 0);
  for (const auto& shard : shards_) {
    for (size_t i = 0; i < counts.size(); ++i) {
      counts[i] += shard.buckets[i].load(std::memory_order_relaxed);
    }
    s.sum += shard.sum.load(std::memory_order_relaxed);
  }
  uint64_t running = 0;
  s.cumulative.reserve(counts.size());
  for (uint64_t c : counts) {
    running += c;
    s.cumulative.push_back(running);
  }
  s.count = running;
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, size_t count) {
  std::vector<double> out;
  double v = start;
  for (size_t i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> LinearBuckets(double start, double width, size_t count) {
  std::vector<double> out;
  for (size_t i = 0; i < count; ++i) out.push_back(start + width * static_cast<double>(i));
  return out;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// --- Family -------------------------------------------------------------------------------

template <typename Metric>
Metric& Family<Metric>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    Die(fmt::format("{} label values given for {} label names", values.size(),
                    label_names_.size()));
  }
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) it = children_.emplace(values, make_()).first;
  return *it->second;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- Registry -----------------------------------------------------------------------------

struct Registry::Entry {
  std::string name;
  std::string help;
  int type = kCounter;
  std::vector<std::string> label_names;
  bool family = false;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> read;
  std::unique_ptr<CounterFamily> counters;
  std::unique_ptr<GaugeFamily> gauges;
  std::unique_ptr<HistogramFamily> histograms;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry& Registry::Register(std::string_view name, std::string_view help, int type,
                                    const std::vector<std::string>& label_names) {
  if (!ValidMetricName(name)) Die(fmt::format("invalid metric name \"{}\"", name));
  for (const auto& l : label_names) {
    if (!ValidLabelName(l) || l == "le") {
      Die(fmt::format("invalid label name \"{}\" for metric {}", l, name));
    }
  }
  for (auto& e : entries_) {
    if (e->name != name) continue;
    if (e->type != type || e->label_names != label_names || type == kGaugeCallback) {
      Die(fmt::format("metric {} registered twice with different shapes", name));
    }
    return *e;
  }
  auto e = std::make_unique<Entry>();
  e->name = std::string(name);
  e->help = std::string(help);
  e->type = type;
  e->label_names = label_names;
  entries_.push_back(std::move(e));
  return *entries_.back();
}

Counter& Registry::AddCounter(std::string_view name, std::string_view help) {
  std::lock_guard lock(mu_);
  Entry& e = Register(name, help, kCounter, {});
  if (e.family) Die(fmt::format("metric {} is a family", name));
  if (!e.counter) e.counter = std::make_unique<Counter>();
  return *e.counter;
}

Gauge& Registry::AddGauge(std::string_view name, std::string_view help) {
  std::lock_guard lock(mu_);
  Entry& e = Register(name, help, kGauge, {});
  if (e.family) Die(fmt::format("metric {} is a family", name));
  if (!e.gauge) e.gauge = std::make_unique<Gauge>();
  return *e.gauge;
}

Histogram& Registry::AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Entry& e = Register(name, help, kHistogram, {});
  if (e.family) Die(fmt::format("metric {} is a family", name));
  if (!e.histogram) e.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *e.histogram;
}

void Registry::AddGaugeCallback(std::string_view name, std::string_view help,
                                std::function<double()> read) {
  std::lock_guard lock(mu_);
  Entry& e = Register(name, help, kGaugeCallback, {});
  e.read = std::move(read);
}

CounterFamily& Registry::AddCounterFamily(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  Entry& e = Register(name, help, kCounter, label_names);
  e.family = true;
  if (!e.counters) {
    e.counters.reset(
        new CounterFamily(std::move(label_names), [] { return std::make_unique<Counter>(); }));
  }
  return *e.counters;
}

GaugeFamily& Registry::AddGaugeFamily(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  Entry& e = Register(name, help, kGauge, label_names);
  e.family = true;
  if (!e.gauges) {
    e.gauges.reset(
        new GaugeFamily(std::move(label_names), [] { return std::make_unique<Gauge>(); }));
  }
  return *e.gauges;
}

HistogramFamily& Registry::AddHistogramFamily(std::string_view name, std::string_view help,
                                              std::vector<std::string> label_names,
                                              std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Entry& e = Register(name, help, kHistogram, label_names);
  e.family = true;
  if (!e.histograms) {
    Histogram probe(bounds);  // validates the bounds now rather than at first use
    e.histograms.reset(new HistogramFamily(std::move(label_names), [bounds = std::move(bounds)] {
      return std::make_unique<Histogram>(bounds);
    }));
  }
  return *e.histograms;
}

std::string Registry::Render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& ep : entries_) {
    const Entry& e = *ep;
    out.append("# HELP ").append(e.name).append(" ").append(EscapeHelp(e.help)).append("\n");
    out.append("# TYPE ").append(e.name).append(" ").append(TypeName(e.type)).append("\n");
    switch (e.type) {
      case kCounter:
        if (e.counter) out.append(fmt::format("{} {}\n", e.name, FormatValue(e.counter->Value())));
        if (e.counters) {
          std::lock_guard family_lock(e.counters->mu_);
          for (const auto& [values, c] : e.counters->children_) {
            out.append(fmt::format("{}{} {}\n", e.name, Close(LabelPrefix(e.label_names, values)),
                                   FormatValue(c->Value())));
          }
        }
        break;
      case kGauge:
        if (e.gauge) out.append(fmt::format("{} {}\n", e.name, FormatValue(e.gauge->Value())));
        if (e.gauges) {
          std::lock_guard family_lock(e.gauges->mu_);
          for (const auto& [values, g] : e.gauges->children_) {
            out.append(fmt::format("{}{} {}\n", e.name, Close(LabelPrefix(e.label_names, values)),
                                   FormatValue(g->Value())));
          }
        }
        break;
      case kGaugeCallback:
        out.append(fmt::format("{} {}\n", e.name, FormatValue(e.read ? e.read() : 0)));
        break;
      case kHistogram:
        if (e.histogram) AppendHistogram(out, e.name, "", *e.histogram);
        if (e.histograms) {
          std::lock_guard family_lock(e.histograms->mu_);
          for (const auto& [values, h] : e.histograms->children_) {
            AppendHistogram(out, e.name, LabelPrefix(e.label_names, values), *h);
          }
        }
        break;
    }
  }
  return out;
}

// --- formatting ---------------------------------------------------------------------------

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '"') {
      out.append("\\\"");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

}  // namespace berth::metrics
