#include "logs/analysis/routes.h"

#include <algorithm>
#include <charconv>

#include "core/json.h"
#include "logs/logql/pipeline.h"

namespace berth::logs::analysis {
namespace {

std::optional<double> Number(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "12ms", "1.5s", "250us": milliseconds; a bare number of a `duration` field is seconds, as
// LogQL's unwrap duration() reads it.
std::optional<double> DurationMs(std::string_view s) {
  auto secs = logql::ParseSampleValue(s, logql::LabelFilter::Unit::kDuration);
  if (!secs) return std::nullopt;
  return *secs * 1000;
}

std::optional<AccessFields> FromFields(const FieldOf& field) {
  AccessFields f;
  f.route = std::string(field("route"));
  if (f.route.empty()) f.route = std::string(field("path"));
  if (f.route.empty()) return std::nullopt;
  std::optional<double> ms;
  if (auto v = field("duration_ms"); !v.empty()) ms = Number(v);
  if (!ms) {
    if (auto v = field("duration"); !v.empty()) ms = DurationMs(v);
  }
  if (!ms) return std::nullopt;
  f.duration_ms = *ms;
  f.upstream = std::string(field("upstream"));
  if (f.upstream.empty()) f.upstream = std::string(field("cluster"));
  if (auto st = Number(field("status"))) f.status = static_cast<int>(*st);
  return f;
}

std::optional<AccessFields> FromJson(std::string_view line) {
  auto j = ParseJson(line);
  if (!j || !j->is_object()) return std::nullopt;
  auto text = [&](const char* key) -> std::string {
    auto it = j->find(key);
    if (it == j->end()) return "";
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  AccessFields f;
  f.route = text("route");
  if (f.route.empty()) f.route = text("path");
  if (f.route.empty()) return std::nullopt;
  std::optional<double> ms;
  if (auto it = j->find("duration_ms"); it != j->end() && it->is_number()) {
    ms = it->get<double>();
  } else if (auto d = j->find("duration"); d != j->end()) {
    ms = d->is_number() ? std::optional<double>(d->get<double>() * 1000)
                        : DurationMs(d->is_string() ? d->get<std::string>() : "");
  }
  if (!ms) return std::nullopt;
  f.duration_ms = *ms;
  f.upstream = text("upstream");
  if (f.upstream.empty()) f.upstream = text("cluster");
  if (auto it = j->find("status"); it != j->end() && it->is_number()) {
    f.status = it->get<int>();
  }
  return f;
}

// The `percent` percentile of sorted, non-empty `v` by nearest rank: the smallest value
// with at least that share of the values at or below it.
double Rank(const std::vector<double>& v, size_t percent) {
  size_t rank = (v.size() * percent + 99) / 100;  // ceil(n * p / 100), integer
  return v[std::max<size_t>(rank, 1) - 1];
}

}  // namespace

std::optional<AccessFields> ReadAccessRecord(std::string_view line, const FieldOf& field) {
  if (auto f = FromFields(field)) return f;
  if (!line.empty() && line.front() == '{') return FromJson(line);
  return std::nullopt;
}

void RouteLatencies::Add(const AccessFields& r) {
  ++records_;
  auto& route = routes_[r.route];
  route.durations.push_back(r.duration_ms);
  auto& up = upstreams_[{r.route, r.upstream}];
  up.durations.push_back(r.duration_ms);
  if (r.status >= 500) {
    ++route.errors;
    ++up.errors;
  }
}

Latency RouteLatencies::Summarise(const Samples& s) {
  Latency l;
  l.count = s.durations.size();
  l.errors = s.errors;
  if (s.durations.empty()) return l;
  std::vector<double> v = s.durations;
  std::sort(v.begin(), v.end());
  l.p50_ms = Rank(v, 50);
  l.p95_ms = Rank(v, 95);
  l.p99_ms = Rank(v, 99);
  l.max_ms = v.back();
  return l;
}

std::vector<RouteLatency> RouteLatencies::Routes() const {
  std::vector<RouteLatency> out;
  for (const auto& [name, samples] : routes_) {
    RouteLatency r;
    r.route = name;
    r.all = Summarise(samples);
    for (auto it = upstreams_.lower_bound({name, ""});
         it != upstreams_.end() && it->first.first == name; ++it) {
      r.upstreams.emplace_back(it->first.second, Summarise(it->second));
    }
    std::sort(r.upstreams.begin(), r.upstreams.end(),
              [](const auto& a, const auto& b) { return a.second.p99_ms > b.second.p99_ms; });
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const RouteLatency& a, const RouteLatency& b) {
    return a.all.p99_ms > b.all.p99_ms;
  });
  return out;
}

}  // namespace berth::logs::analysis
