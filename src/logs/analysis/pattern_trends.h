// The patterns view: templates of the lines a query selects (patterns/miner.h), each with its
// count, first and last seen and its trend: counts in `buckets` equal slices of the query's
// range, oldest first. A template that appears only in the newest slice is new (`is_new`).
// Thread-safety: not thread-safe (one per analysis).
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "logs/patterns/miner.h"

namespace berth::logs::analysis {

struct PatternTrend {
  patterns::Pattern pattern;
  std::vector<uint64_t> trend;
  bool is_new = false;  // no line before the newest slice
};

class PatternTrends {
 public:
  // Lines from [start_ns, end_ns) counted in `buckets` slices (at least 1).
  PatternTrends(int64_t start_ns, int64_t end_ns, size_t buckets);
  void Add(std::string_view line, int64_t ts_ns);
  // The `limit` most frequent templates (0: all).
  std::vector<PatternTrend> Top(size_t limit);
  uint64_t lines() const { return lines_; }

 private:
  const int64_t start_ns_, end_ns_;
  const size_t buckets_;
  patterns::TemplateMiner miner_;
  std::unordered_map<uint32_t, std::vector<uint64_t>> by_signature_;  // per-slice counts
  uint64_t lines_ = 0;
};

}  // namespace berth::logs::analysis
