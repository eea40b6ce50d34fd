// The bottleneck view: latency per route, and per upstream of each route, from the gateway's
// access records (gateway/server/access_log.h: JSON lines with route, upstream, status,
// duration_ms). Each route gets its count, 5xx count and duration percentiles (p50, p95,
// p99, max; exact, from every duration seen); routes print slowest p99 first.
// Thread-safety: RouteLatencies is not thread-safe (one per analysis).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::logs::analysis {

struct AccessFields {
  std::string route;
  std::string upstream;  // "" when the record has none (no upstream was reached)
  int status = 0;
  double duration_ms = 0;
};

// A field's value as the query's pipeline extracted it (`| json`, `| logfmt`), or "".
using FieldOf = std::function<std::string_view(std::string_view name)>;

// The access fields of one log line: from `field` (route or path; upstream or cluster;
// status; duration_ms, or duration as "12ms"/"1.5s"/seconds) when the pipeline extracted
// them, else from the line read as a JSON object. nullopt when there is no route or no
// duration.
std::optional<AccessFields> ReadAccessRecord(std::string_view line, const FieldOf& field);

struct Latency {
  uint64_t count = 0;
  uint64_t errors = 0;  // status >= 500
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

struct RouteLatency {
  std::string route;
  Latency all;
  std::vector<std::pair<std::string, Latency>> upstreams;  // slowest p99 first
};

class RouteLatencies {
 public:
  void Add(const AccessFields& record);
  // Routes, slowest p99 first.
  std::vector<RouteLatency> Routes() const;
  uint64_t records() const { return records_; }

 private:
  struct Samples {
    std::vector<double> durations;
    uint64_t errors = 0;
  };
  static Latency Summarise(const Samples& s);

  std::map<std::string, Samples> routes_;
  std::map<std::pair<std::string, std::string>, Samples> upstreams_;
  uint64_t records_ = 0;
};

}  // namespace berth::logs::analysis
