// Runs a parsed LogQL query against a LogStore. A log query returns streams of entries (at
// most `limit`, newest or oldest first); a metric query returns series sampled at each step
// from start to end (a range query) or at one time (instant). Chunks are read and filtered by
// `threads` workers in parallel; a leading `|= "literal"` is found with one memmem per chunk
// before the pipeline runs on the candidate lines only.
// Namespaces the caller may not read are never selected (`QueryParams::ns_allowed`).
// Thread-safety: an Engine is safe from any thread; each Run is independent.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "logs/labels.h"
#include "logs/logql/ast.h"

namespace berth::logs {
class LogStore;
struct StreamRef;
}  // namespace berth::logs

namespace berth::logs::logql {

struct QueryParams {
  int64_t start_ns = 0;  // log queries: [start, end); metric queries: first step
  int64_t end_ns = 0;    // metric queries: last step (inclusive)
  int64_t step_ns = 0;   // 0: instant query at end_ns
  size_t limit = 100;    // log queries: entries over all streams
  bool forward = false;  // log queries: oldest first (default newest first, as Loki)
  std::function<bool(std::string_view)> ns_allowed;  // null: every namespace
  size_t max_series = 50'000;  // metric queries: more series is an error naming the query
};

struct StreamEntries {
  std::vector<Label> labels;
  std::vector<std::pair<int64_t, std::string>> entries;  // in the query's direction
};

struct Series {
  std::vector<Label> metric;
  std::vector<std::pair<int64_t, double>> points;  // step time (ns), value
};

struct QueryStats {
  uint64_t chunks = 0;
  uint64_t bytes = 0;    // decompressed line bytes examined
  uint64_t lines = 0;    // entries examined
  uint64_t matched = 0;  // entries through the pipeline
};

struct QueryResult {
  enum class Kind { kStreams, kMatrix, kVector, kScalar };
  Kind kind = Kind::kStreams;
  std::vector<StreamEntries> streams;
  std::vector<Series> series;  // kVector: one point each; kScalar: one series, no labels
  QueryStats stats;
};

struct EntryState;

// What Engine::Scan visited.
struct ScanStats {
  QueryStats stats;
  bool truncated = false;  // stopped at max_entries
};

// One entry that passed the pipeline: its stream, time and state (line, extracted labels).
using ScanVisitor = std::function<void(const StreamRef& stream, int64_t ts, EntryState& entry)>;

class Engine {
 public:
  Engine(const LogStore& store, int threads) : store_(store), threads_(threads < 1 ? 1 : threads) {}
  Result<QueryResult> Run(const Expr& expr, const QueryParams& params) const;
  // Visits every entry of a log query in [start_ns, end_ns) that passes its pipeline, on the
  // calling thread, oldest chunk first (entries of different streams interleave by chunk,
  // not strictly by time), up to `max_entries` (then stops, truncated). The analyses'
  // (patterns, exceptions, slow routes) way to see everything the query selects.
  Result<ScanStats> Scan(const LogQuery& query, const QueryParams& params, size_t max_entries,
                         const ScanVisitor& visit) const;

 private:
  const LogStore& store_;
  const int threads_;
};

}  // namespace berth::logs::logql
