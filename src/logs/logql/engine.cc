#include "logs/logql/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "logs/log_store.h"
#include "logs/logql/pipeline.h"

namespace berth::logs::logql {
namespace {

// One unit of parallel work: a stored chunk or a head copy of one stream.
struct Job {
  size_t stream = 0;
  bool head = false;
  size_t index = 0;  // into the snapshot's chunks or heads
  int64_t min_ts = 0;
  int64_t max_ts = 0;
};

struct Selection {
  std::vector<StreamRef> streams;
  std::vector<StreamSnapshot> snaps;
  std::vector<Job> jobs;
};

Selection SelectData(const LogStore& store, const LogQuery& q, const QueryParams& p, int64_t from,
                     int64_t to) {
  Selection sel;
  sel.streams = store.Select(q.matchers, p.ns_allowed);
  sel.snaps.reserve(sel.streams.size());
  for (size_t i = 0; i < sel.streams.size(); ++i) {
    sel.snaps.push_back(store.Snapshot(sel.streams[i], from, to - 1));
    const auto& snap = sel.snaps.back();
    for (size_t c = 0; c < snap.chunks.size(); ++c) {
      sel.jobs.push_back({i, false, c, snap.chunks[c].min_ts, snap.chunks[c].max_ts});
    }
    for (size_t h = 0; h < snap.heads.size(); ++h) {
      const auto& d = snap.heads[h];
      sel.jobs.push_back({i, true, h, d.ts.front(), d.ts.back()});
    }
  }
  return sel;
}

// Runs fn(worker, job) over every job on `threads` threads; the first error wins.
Result<void> ForEachJob(int threads, const std::vector<Job>& jobs,
                        const std::function<Result<void>(int, const Job&)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  std::optional<Error> error;
  auto work = [&](int w) {
    while (true) {
      size_t i = next.fetch_add(1);
      if (i >= jobs.size()) return;
      if (auto r = fn(w, jobs[i]); !r) {
        std::lock_guard lock(err_mu);
        if (!error) error = r.error();
        next = jobs.size();
        return;
      }
    }
  };
  int n = static_cast<int>(std::min<size_t>(threads, jobs.size()));
  std::vector<std::thread> pool;
  for (int w = 1; w < n; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& t : pool) t.join();
  if (error) return std::unexpected(*error);
  return {};
}

std::string KeyOf(const std::vector<Label>& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ", ";
    out += labels[i].name;
    out += '=';
    AppendQuoted(out, labels[i].value);
  }
  out += '}';
  return out;
}

// Visits the entries of one job in [from, to) that pass the pipeline; sink(state, ts) gets
// each. The leading literal is searched in the chunk's lines as one block.
Result<void> VisitJob(const LogStore& store, const Selection& sel, const Job& job, int64_t from,
                      int64_t to, const Pipeline& pipeline, EntryState& st, QueryStats& stats,
                      const std::function<void(EntryState&, int64_t)>& sink) {
  DecodedChunk owned;
  const DecodedChunk* chunk;
  if (job.head) {
    chunk = &sel.snaps[job.stream].heads[job.index];
  } else {
    auto c = store.ReadChunk(sel.streams[job.stream].ns, sel.snaps[job.stream].chunks[job.index]);
    if (!c) {
      if (c.error().code == ErrorCode::kNotFound) return {};  // dropped by retention meanwhile
      return std::unexpected(c.error());
    }
    owned = std::move(*c);
    chunk = &owned;
  }
  ++stats.chunks;
  const LabelSet* labels = &sel.streams[job.stream].labels;
  size_t n = chunk->size();
  // The entries in range: ts is sorted inside a chunk.
  size_t lo = std::lower_bound(chunk->ts.begin(), chunk->ts.end(), from) - chunk->ts.begin();
  size_t hi = std::lower_bound(chunk->ts.begin(), chunk->ts.end(), to) - chunk->ts.begin();
  if (lo >= hi) return {};
  stats.lines += hi - lo;
  stats.bytes += chunk->offsets[hi] - chunk->offsets[lo];
  auto run = [&](size_t i) {
    st.Reset(labels, chunk->Line(i));
    if (pipeline.Process(st)) {
      ++stats.matched;
      sink(st, chunk->ts[i]);
    }
  };
  auto literals = pipeline.LeadingLiterals();
  if (literals.empty()) {
    for (size_t i = lo; i < hi; ++i) run(i);
    return {};
  }
  // memmem over the block; each hit names a line (binary search on the offsets, moving
  // forward), which the full pipeline then checks.
  std::string_view all = chunk->Lines();
  std::string_view needle = literals.front();
  size_t pos = chunk->offsets[lo];
  const size_t end = chunk->offsets[hi];
  size_t line = lo;
  while (pos < end) {
    const void* hit = memmem(all.data() + pos, end - pos, needle.data(), needle.size());
    if (!hit) break;
    size_t at = static_cast<const char*>(hit) - all.data();
    line = std::upper_bound(chunk->offsets.begin() + line, chunk->offsets.begin() + n + 1, at) -
           chunk->offsets.begin() - 1;
    if (line >= hi) break;
    if (at + needle.size() <= chunk->offsets[line + 1]) run(line);  // not across two lines
    pos = chunk->offsets[line + 1];
    ++line;
  }
  return {};
}

// ---- log queries ----

struct Found {
  int64_t ts;
  size_t stream;
  std::string key;  // empty: the stream's own labels
  std::vector<Label> labels;
  std::string line;
};

Result<QueryResult> RunLogQuery(const LogStore& store, int threads, const LogQuery& q,
                                const QueryParams& p) {
  Pipeline pipeline(&q.pipeline);
  Selection sel = SelectData(store, q, p, p.start_ns, p.end_ns);
  std::sort(sel.jobs.begin(), sel.jobs.end(), [&](const Job& a, const Job& b) {
    return p.forward ? a.min_ts < b.min_ts : a.max_ts > b.max_ts;
  });
  // "better" entries come first in the result: newer when backward, older when forward.
  auto worse = [&](const Found& a, const Found& b) {
    return p.forward ? a.ts < b.ts : a.ts > b.ts;
  };
  struct Worker {
    std::vector<Found> heap;  // a heap whose top is the worst kept entry
    QueryStats stats;
    EntryState st;
  };
  std::vector<Worker> workers(threads);
  bool stream_labels = pipeline.KeepsStreamLabels();
  auto r = ForEachJob(threads, sel.jobs, [&](int w, const Job& job) -> Result<void> {
    Worker& wk = workers[w];
    if (wk.heap.size() >= p.limit && p.limit > 0) {
      int64_t worst = wk.heap.front().ts;
      if (p.forward ? job.min_ts > worst : job.max_ts < worst) return {};
    }
    return VisitJob(store, sel, job, p.start_ns, p.end_ns, pipeline, wk.st, wk.stats,
                    [&](EntryState& st, int64_t ts) {
                      if (p.limit == 0) return;
                      if (wk.heap.size() >= p.limit) {
                        if (p.forward ? ts >= wk.heap.front().ts : ts <= wk.heap.front().ts) return;
                        std::pop_heap(wk.heap.begin(), wk.heap.end(), worse);
                        wk.heap.pop_back();
                      }
                      Found f{ts, job.stream, {}, {}, std::string(st.line)};
                      if (!stream_labels) {
                        f.labels = st.Final();
                        f.key = KeyOf(f.labels);
                      }
                      wk.heap.push_back(std::move(f));
                      std::push_heap(wk.heap.begin(), wk.heap.end(), worse);
                    });
  });
  if (!r) return std::unexpected(r.error());
  QueryResult out;
  out.kind = QueryResult::Kind::kStreams;
  std::vector<Found> all;
  for (auto& wk : workers) {
    out.stats.chunks += wk.stats.chunks;
    out.stats.bytes += wk.stats.bytes;
    out.stats.lines += wk.stats.lines;
    out.stats.matched += wk.stats.matched;
    std::move(wk.heap.begin(), wk.heap.end(), std::back_inserter(all));
  }
  std::stable_sort(all.begin(), all.end(), [&](const Found& a, const Found& b) {
    return p.forward ? a.ts < b.ts : a.ts > b.ts;
  });
  if (all.size() > p.limit) all.resize(p.limit);
  std::map<std::string, size_t> by_key;
  for (auto& f : all) {
    std::string key = f.key.empty() ? sel.streams[f.stream].labels.Canonical() : f.key;
    auto [it, fresh] = by_key.emplace(key, out.streams.size());
    if (fresh) {
      StreamEntries se;
      se.labels = f.key.empty() ? sel.streams[f.stream].labels.labels() : std::move(f.labels);
      out.streams.push_back(std::move(se));
    }
    out.streams[it->second].entries.emplace_back(f.ts, std::move(f.line));
  }
  return out;
}

// ---- metric queries ----

struct Steps {
  int64_t start = 0;
  int64_t step = 0;
  size_t count = 1;
  int64_t At(size_t k) const { return start + static_cast<int64_t>(k) * step; }
};

using SeriesSet = std::vector<Series>;

bool CountsLines(RangeAggregation::Fn fn) {
  using F = RangeAggregation::Fn;
  return fn == F::kCountOverTime || fn == F::kRate || fn == F::kBytesOverTime ||
         fn == F::kBytesRate;
}

// Per-series accumulation for one range aggregation.
struct Acc {
  std::vector<Label> labels;
  std::vector<double> buckets;                      // line-counting functions
  std::vector<std::pair<int64_t, double>> samples;  // unwrapped values
};

double Quantile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return NAN;
  double rank = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank)), hi = static_cast<size_t>(std::ceil(rank));
  double w = rank - static_cast<double>(lo);
  return v[lo] * (1 - w) + v[hi] * w;
}

std::optional<double> Reduce(const RangeAggregation& r,
                             std::vector<std::pair<int64_t, double>>::const_iterator b,
                             std::vector<std::pair<int64_t, double>>::const_iterator e) {
  using F = RangeAggregation::Fn;
  if (b == e) return std::nullopt;
  double secs = static_cast<double>(r.range_ns) / 1e9;
  switch (r.fn) {
    case F::kSumOverTime: {
      double s = 0;
      for (auto it = b; it != e; ++it) s += it->second;
      return s;
    }
    case F::kAvgOverTime: {
      double s = 0;
      for (auto it = b; it != e; ++it) s += it->second;
      return s / static_cast<double>(e - b);
    }
    case F::kMinOverTime: {
      double m = b->second;
      for (auto it = b; it != e; ++it) m = std::min(m, it->second);
      return m;
    }
    case F::kMaxOverTime: {
      double m = b->second;
      for (auto it = b; it != e; ++it) m = std::max(m, it->second);
      return m;
    }
    case F::kFirstOverTime:
      return b->second;
    case F::kLastOverTime:
      return (e - 1)->second;
    case F::kRateCounter: {
      double total = 0, prev = b->second;
      for (auto it = b + 1; it != e; ++it) {
        total += it->second >= prev ? it->second - prev : it->second;
        prev = it->second;
      }
      return total / secs;
    }
    case F::kQuantileOverTime: {
      std::vector<double> v;
      for (auto it = b; it != e; ++it) v.push_back(it->second);
      return Quantile(v, r.quantile);
    }
    default:
      return std::nullopt;
  }
}

Result<SeriesSet> EvalRange(const LogStore& store, int threads, const RangeAggregation& r,
                            const Steps& steps, const QueryParams& p, QueryStats& stats) {
  const bool counting = CountsLines(r.fn);
  // Buckets of one step's width when the range is a whole number of steps (or instant).
  const int64_t step = steps.count == 1 ? r.range_ns : steps.step;
  const bool bucketed = counting && step > 0 && r.range_ns % step == 0;
  const int64_t m = bucketed ? r.range_ns / step : 0;
  const int64_t base =
      steps.start - r.offset_ns - r.range_ns;  // bucket b: (base+b*step, base+(b+1)*step]
  const size_t nbuckets = bucketed ? steps.count + static_cast<size_t>(m) - 1 : 0;
  const int64_t from = base + 1;
  const int64_t to = steps.At(steps.count - 1) - r.offset_ns + 1;
  Pipeline pipeline(&r.log.pipeline);
  Selection sel = SelectData(store, r.log, p, from, to);
  struct Worker {
    std::unordered_map<std::string, Acc> series;
    QueryStats stats;
    EntryState st;
    std::string error;
  };
  std::vector<Worker> workers(threads);
  const bool stream_labels = pipeline.KeepsStreamLabels() && !r.unwrap && !r.grouping;
  auto res = ForEachJob(threads, sel.jobs, [&](int w, const Job& job) -> Result<void> {
    Worker& wk = workers[w];
    Acc* fixed = nullptr;
    if (stream_labels) {
      const auto& ref = sel.streams[job.stream];
      auto [it, fresh] = wk.series.try_emplace(ref.ns + "\x1f" + std::to_string(ref.id));
      if (fresh) it->second.labels = ref.labels.labels();
      fixed = &it->second;
    }
    auto r2 = VisitJob(
        store, sel, job, from, to, pipeline, wk.st, wk.stats, [&](EntryState& st, int64_t ts) {
          double value = 1;
          if (r.unwrap) {
            std::string_view raw = st.Get(*r.unwrap);
            auto unit = r.conversion == RangeAggregation::Conversion::kDuration
                            ? LabelFilter::Unit::kDuration
                        : r.conversion == RangeAggregation::Conversion::kBytes
                            ? LabelFilter::Unit::kBytes
                            : LabelFilter::Unit::kNumber;
            auto v = ParseSampleValue(raw, unit);
            if (!v) return;  // Loki marks __error__=SampleExtractionErr; such lines carry no sample
            value = *v;
            for (const auto& s : r.post_unwrap) {
              if (!EvalLabelFilter(*s.label_filter, st)) return;
            }
          } else if (r.fn == RangeAggregation::Fn::kBytesOverTime ||
                     r.fn == RangeAggregation::Fn::kBytesRate) {
            value = static_cast<double>(st.line.size());
          }
          Acc* acc = fixed;
          if (!acc) {
            std::vector<Label> labels = st.Final();
            if (r.unwrap)
              std::erase_if(labels, [&](const Label& l) { return l.name == *r.unwrap; });
            if (r.grouping) {
              std::erase_if(labels, [&](const Label& l) {
                bool listed =
                    std::find(r.grouping->begin(), r.grouping->end(), l.name) != r.grouping->end();
                return r.without ? listed : !listed;
              });
            }
            std::string key = KeyOf(labels);
            auto [it, fresh] = wk.series.try_emplace(std::move(key));
            if (fresh) it->second.labels = std::move(labels);
            acc = &it->second;
          }
          if (bucketed) {
            if (acc->buckets.empty()) acc->buckets.assign(nbuckets, 0);
            int64_t b = (ts - base - 1) / step;
            if (b >= 0 && static_cast<size_t>(b) < nbuckets) acc->buckets[b] += value;
          } else {
            acc->samples.emplace_back(ts, value);
          }
        });
    if (!r2) return r2;
    if (wk.series.size() > p.max_series) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("the query makes more than {} series; aggregate it (sum by (...)) or "
                              "select fewer streams",
                              p.max_series));
    }
    return {};
  });
  if (!res) return std::unexpected(res.error());
  // Merge the workers' accumulators.
  std::unordered_map<std::string, Acc> merged;
  for (auto& wk : workers) {
    stats.chunks += wk.stats.chunks;
    stats.bytes += wk.stats.bytes;
    stats.lines += wk.stats.lines;
    stats.matched += wk.stats.matched;
    for (auto& [key, acc] : wk.series) {
      // Stream-keyed accumulators merge by their labels' text.
      std::string k = stream_labels ? KeyOf(acc.labels) : key;
      auto [it, fresh] = merged.try_emplace(k);
      if (fresh) {
        it->second = std::move(acc);
        continue;
      }
      if (bucketed) {
        if (it->second.buckets.empty()) it->second.buckets.assign(nbuckets, 0);
        for (size_t b = 0; b < acc.buckets.size(); ++b) it->second.buckets[b] += acc.buckets[b];
      } else {
        std::move(acc.samples.begin(), acc.samples.end(), std::back_inserter(it->second.samples));
      }
    }
  }
  SeriesSet out;
  const double secs = static_cast<double>(r.range_ns) / 1e9;
  const bool per_second =
      r.fn == RangeAggregation::Fn::kRate || r.fn == RangeAggregation::Fn::kBytesRate;
  for (auto& [key, acc] : merged) {
    Series s;
    s.metric = std::move(acc.labels);
    if (bucketed) {
      std::vector<double> prefix(nbuckets + 1, 0);
      for (size_t b = 0; b < nbuckets; ++b)
        prefix[b + 1] = prefix[b] + (acc.buckets.empty() ? 0 : acc.buckets[b]);
      for (size_t k = 0; k < steps.count; ++k) {
        double v = prefix[k + m] - prefix[k];
        if (v == 0) continue;  // no samples in the window: no point (as Loki)
        s.points.emplace_back(steps.At(k), per_second ? v / secs : v);
      }
    } else {
      auto& sm = acc.samples;
      std::stable_sort(sm.begin(), sm.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (size_t k = 0; k < steps.count; ++k) {
        int64_t hi_t = steps.At(k) - r.offset_ns, lo_t = hi_t - r.range_ns;
        auto b = std::upper_bound(sm.begin(), sm.end(), lo_t,
                                  [](int64_t t, const auto& x) { return t < x.first; });
        auto e = std::upper_bound(sm.begin(), sm.end(), hi_t,
                                  [](int64_t t, const auto& x) { return t < x.first; });
        if (b == e) continue;
        if (counting) {
          double v = 0;
          for (auto it = b; it != e; ++it) v += it->second;
          s.points.emplace_back(steps.At(k), per_second ? v / secs : v);
        } else if (auto v = Reduce(r, b, e)) {
          s.points.emplace_back(steps.At(k), *v);
        }
      }
    }
    if (!s.points.empty()) out.push_back(std::move(s));
  }
  return out;
}

std::vector<Label> GroupLabels(const std::vector<Label>& in, const VectorAggregation& v) {
  std::vector<Label> out;
  if (!v.has_grouping) return out;
  for (const auto& l : in) {
    bool listed = std::find(v.grouping.begin(), v.grouping.end(), l.name) != v.grouping.end();
    if (listed != v.without) out.push_back(l);
  }
  return out;
}

Result<SeriesSet> Eval(const LogStore& store, int threads, const Expr& e, const Steps& steps,
                       const QueryParams& p, QueryStats& stats, bool& scalar, double& scalar_value);

Result<SeriesSet> EvalVector(const LogStore& store, int threads, const VectorAggregation& v,
                             const Steps& steps, const QueryParams& p, QueryStats& stats) {
  bool scalar = false;
  double sv = 0;
  auto inner = Eval(store, threads, *v.inner, steps, p, stats, scalar, sv);
  if (!inner) return inner;
  using O = VectorAggregation::Op;
  if (v.op == O::kTopk || v.op == O::kBottomk) {
    // Per step, the k highest (lowest) series within each group keep their point.
    std::vector<Series> out(inner->size());
    for (size_t i = 0; i < inner->size(); ++i) out[i].metric = (*inner)[i].metric;
    for (size_t k = 0; k < steps.count; ++k) {
      int64_t t = steps.At(k);
      std::map<std::string, std::vector<std::pair<double, size_t>>> groups;
      for (size_t i = 0; i < inner->size(); ++i) {
        for (const auto& [pt, val] : (*inner)[i].points) {
          if (pt == t) groups[KeyOf(GroupLabels((*inner)[i].metric, v))].emplace_back(val, i);
        }
      }
      for (auto& [g, members] : groups) {
        std::stable_sort(members.begin(), members.end(), [&](const auto& a, const auto& b) {
          return v.op == O::kTopk ? a.first > b.first : a.first < b.first;
        });
        for (size_t j = 0; j < members.size() && j < static_cast<size_t>(v.param); ++j) {
          out[members[j].second].points.emplace_back(t, members[j].first);
        }
      }
    }
    std::erase_if(out, [](const Series& s) { return s.points.empty(); });
    return out;
  }
  struct Group {
    std::vector<Label> labels;
    std::map<int64_t, std::vector<double>> values;
  };
  std::map<std::string, Group> groups;
  for (const auto& s : *inner) {
    std::vector<Label> labels = GroupLabels(s.metric, v);
    auto& g = groups[KeyOf(labels)];
    g.labels = labels;
    for (const auto& [t, val] : s.points) g.values[t].push_back(val);
  }
  SeriesSet out;
  for (auto& [key, g] : groups) {
    Series s;
    s.metric = g.labels;
    for (auto& [t, vals] : g.values) {
      double r = 0;
      switch (v.op) {
        case O::kSum:
          for (double x : vals) r += x;
          break;
        case O::kAvg:
          for (double x : vals) r += x;
          r /= static_cast<double>(vals.size());
          break;
        case O::kMin:
          r = *std::min_element(vals.begin(), vals.end());
          break;
        case O::kMax:
          r = *std::max_element(vals.begin(), vals.end());
          break;
        case O::kCount:
          r = static_cast<double>(vals.size());
          break;
        case O::kStddev:
        case O::kStdvar: {
          double mean = 0;
          for (double x : vals) mean += x;
          mean /= static_cast<double>(vals.size());
          for (double x : vals) r += (x - mean) * (x - mean);
          r /= static_cast<double>(vals.size());
          if (v.op == O::kStddev) r = std::sqrt(r);
          break;
        }
        default:
          break;
      }
      s.points.emplace_back(t, r);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<double> Apply(BinaryOp::Op op, double a, double b, bool return_bool) {
  using O = BinaryOp::Op;
  auto cmp = [&](bool ok) -> std::optional<double> {
    if (return_bool) return ok ? 1.0 : 0.0;
    return ok ? std::optional<double>(a) : std::nullopt;
  };
  switch (op) {
    case O::kAdd:
      return a + b;
    case O::kSub:
      return a - b;
    case O::kMul:
      return a * b;
    case O::kDiv:
      return b == 0 ? (a == 0 ? NAN : std::copysign(INFINITY, a)) : a / b;
    case O::kMod:
      return std::fmod(a, b);
    case O::kPow:
      return std::pow(a, b);
    case O::kEq:
      return cmp(a == b);
    case O::kNeq:
      return cmp(a != b);
    case O::kGt:
      return cmp(a > b);
    case O::kGte:
      return cmp(a >= b);
    case O::kLt:
      return cmp(a < b);
    case O::kLte:
      return cmp(a <= b);
    default:
      return std::nullopt;
  }
}

Result<SeriesSet> EvalBinary(const LogStore& store, int threads, const BinaryOp& b,
                             const Steps& steps, const QueryParams& p, QueryStats& stats,
                             bool& scalar, double& scalar_value) {
  bool ls = false, rs = false;
  double lv = 0, rv = 0;
  auto left = Eval(store, threads, *b.left, steps, p, stats, ls, lv);
  if (!left) return left;
  auto right = Eval(store, threads, *b.right, steps, p, stats, rs, rv);
  if (!right) return right;
  using O = BinaryOp::Op;
  if (ls && rs) {
    auto v = Apply(b.op, lv, rv, true);
    scalar = true;
    scalar_value = v.value_or(NAN);
    return SeriesSet{};
  }
  if (ls || rs) {
    SeriesSet out = ls ? std::move(*right) : std::move(*left);
    for (auto& s : out) {
      std::vector<std::pair<int64_t, double>> pts;
      for (auto [t, v] : s.points) {
        auto r = ls ? Apply(b.op, lv, v, b.return_bool) : Apply(b.op, v, rv, b.return_bool);
        // A comparison with the scalar on the left keeps the vector's value.
        if (r && ls && !b.return_bool && b.op >= O::kEq && b.op <= O::kLte) r = v;
        if (r) pts.emplace_back(t, *r);
      }
      s.points = std::move(pts);
    }
    std::erase_if(out, [](const Series& s) { return s.points.empty(); });
    return out;
  }
  // Vector to vector: series match on identical label sets.
  std::map<std::string, const Series*> rights;
  for (const auto& s : *right) rights[KeyOf(s.metric)] = &s;
  SeriesSet out;
  if (b.op == O::kOr) {
    out = *left;
    std::map<std::string, bool> in_left;
    for (const auto& s : *left) in_left[KeyOf(s.metric)] = true;
    for (const auto& s : *right) {
      if (!in_left.contains(KeyOf(s.metric))) out.push_back(s);
    }
    return out;
  }
  for (const auto& ls2 : *left) {
    auto it = rights.find(KeyOf(ls2.metric));
    if (b.op == O::kUnless) {
      if (it == rights.end()) out.push_back(ls2);
      continue;
    }
    if (it == rights.end()) continue;
    std::map<int64_t, double> rp(it->second->points.begin(), it->second->points.end());
    Series s;
    s.metric = ls2.metric;
    for (auto [t, v] : ls2.points) {
      auto r = rp.find(t);
      if (r == rp.end()) continue;
      if (b.op == O::kAnd) {
        s.points.emplace_back(t, v);
        continue;
      }
      if (auto x = Apply(b.op, v, r->second, b.return_bool)) s.points.emplace_back(t, *x);
    }
    if (!s.points.empty()) out.push_back(std::move(s));
  }
  return out;
}

Result<SeriesSet> Eval(const LogStore& store, int threads, const Expr& e, const Steps& steps,
                       const QueryParams& p, QueryStats& stats, bool& scalar,
                       double& scalar_value) {
  scalar = false;
  if (const auto* lit = std::get_if<Literal>(&e.node)) {
    if (lit->vector) {
      Series s;
      for (size_t k = 0; k < steps.count; ++k) s.points.emplace_back(steps.At(k), lit->value);
      return SeriesSet{std::move(s)};
    }
    scalar = true;
    scalar_value = lit->value;
    return SeriesSet{};
  }
  if (const auto* r = std::get_if<RangeAggregation>(&e.node))
    return EvalRange(store, threads, *r, steps, p, stats);
  if (const auto* v = std::get_if<VectorAggregation>(&e.node))
    return EvalVector(store, threads, *v, steps, p, stats);
  if (const auto* b = std::get_if<BinaryOp>(&e.node)) {
    return EvalBinary(store, threads, *b, steps, p, stats, scalar, scalar_value);
  }
  return Fail(ErrorCode::kInvalidArgument, "a log query cannot be part of a metric expression");
}

}  // namespace

Result<QueryResult> Engine::Run(const Expr& expr, const QueryParams& params) const {
  if (const auto* log = std::get_if<LogQuery>(&expr.node)) {
    if (params.end_ns <= params.start_ns) {
      return Fail(ErrorCode::kInvalidArgument, "the query's end must be after its start");
    }
    return RunLogQuery(store_, threads_, *log, params);
  }
  Steps steps;
  if (params.step_ns > 0) {
    if (params.end_ns < params.start_ns)
      return Fail(ErrorCode::kInvalidArgument, "the query's end is before its start");
    steps.start = params.start_ns;
    steps.step = params.step_ns;
    steps.count = static_cast<size_t>((params.end_ns - params.start_ns) / params.step_ns) + 1;
    if (steps.count > 11'000) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("the query has {} steps, over the limit of 11000: use a larger step",
                              steps.count));
    }
  } else {
    steps.start = params.end_ns;
    steps.step = 0;
    steps.count = 1;
  }
  QueryResult out;
  bool scalar = false;
  double sv = 0;
  auto series = Eval(store_, threads_, expr, steps, params, out.stats, scalar, sv);
  if (!series) return std::unexpected(series.error());
  if (scalar) {
    out.kind = QueryResult::Kind::kScalar;
    Series s;
    for (size_t k = 0; k < steps.count; ++k) s.points.emplace_back(steps.At(k), sv);
    out.series.push_back(std::move(s));
    return out;
  }
  out.kind = params.step_ns > 0 ? QueryResult::Kind::kMatrix : QueryResult::Kind::kVector;
  out.series = std::move(*series);
  std::sort(out.series.begin(), out.series.end(),
            [](const Series& a, const Series& b) { return KeyOf(a.metric) < KeyOf(b.metric); });
  return out;
}

Result<ScanStats> Engine::Scan(const LogQuery& query, const QueryParams& params, size_t max_entries,
                               const ScanVisitor& visit) const {
  if (params.end_ns <= params.start_ns) {
    return Fail(ErrorCode::kInvalidArgument, "the query's end must be after its start");
  }
  Pipeline pipeline(&query.pipeline);
  Selection sel = SelectData(store_, query, params, params.start_ns, params.end_ns);
  std::stable_sort(sel.jobs.begin(), sel.jobs.end(),
                   [](const Job& a, const Job& b) { return a.min_ts < b.min_ts; });
  ScanStats out;
  EntryState st;
  size_t seen = 0;
  for (const Job& job : sel.jobs) {
    if (seen >= max_entries) {
      out.truncated = true;
      break;
    }
    auto r = VisitJob(store_, sel, job, params.start_ns, params.end_ns, pipeline, st, out.stats,
                      [&](EntryState& e, int64_t ts) {
                        if (seen >= max_entries) {
                          out.truncated = true;
                          return;
                        }
                        ++seen;
                        visit(sel.streams[job.stream], ts, e);
                      });
    if (!r) return std::unexpected(r.error());
  }
  return out;
}

}  // namespace berth::logs::logql
