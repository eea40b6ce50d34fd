#include "logs/analysis/pattern_trends.h"

#include <algorithm>
#include <map>

namespace berth::logs::analysis {

PatternTrends::PatternTrends(int64_t start_ns, int64_t end_ns, size_t buckets)
    : start_ns_(start_ns),
      end_ns_(std::max(end_ns, start_ns + 1)),
      buckets_(std::max<size_t>(buckets, 1)) {}

void PatternTrends::Add(std::string_view line, int64_t ts_ns) {
  ++lines_;
  miner_.Add(line, ts_ns);
  auto& slices = by_signature_[miner_.last_signature()];
  if (slices.empty()) slices.resize(buckets_);
  const int64_t at = std::clamp<int64_t>(ts_ns, start_ns_, end_ns_ - 1) - start_ns_;
  const auto span = static_cast<__int128>(end_ns_ - start_ns_);
  slices[static_cast<size_t>(static_cast<__int128>(at) * buckets_ / span)] += 1;
}

std::vector<PatternTrend> PatternTrends::Top(size_t limit) {
  // Signatures merged into one cluster since they were counted add up in it.
  std::map<uint64_t, std::vector<uint64_t>> by_cluster;
  for (const auto& [sig, slices] : by_signature_) {
    auto& sum = by_cluster[miner_.ClusterOfSignature(sig)];
    if (sum.empty()) sum.resize(buckets_);
    for (size_t i = 0; i < buckets_; ++i) sum[i] += slices[i];
  }
  std::vector<PatternTrend> out;
  for (auto& p : miner_.Patterns()) {  // most frequent first
    if (limit != 0 && out.size() >= limit) break;
    PatternTrend t;
    t.trend = by_cluster[p.id];
    t.trend.resize(buckets_);
    t.is_new = buckets_ > 1 &&
               std::all_of(t.trend.begin(), t.trend.end() - 1, [](uint64_t n) { return n == 0; });
    t.pattern = std::move(p);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace berth::logs::analysis
