// Online log template mining: lines in, templates ("Invalid user <*> from <*>") out, with
// counts. One global setting for every kind of log (measured on Loghub's 2k sets:
// docs/benchmarks.md, bench/logs/patterns.sh).
//
// How it groups:
// 1. Tokens: the line split on white space, a [bracketed group] kept as one token.
// 2. Masking: a token with a digit, a month or day name, a [bracketed group], or a size or
//    time unit right after a masked token becomes <*>. The masked token sequence is the
//    line's signature; lines with equal signatures are one group at once.
// 3. Merging: groups of equal length whose templates differ at one position merge when that
//    position has taken at least `min_values` different values among them, or a value and
//    <*> (a position that is sometimes a number is a variable). Merging repeats until
//    nothing changes; it runs for a length class when a new signature arrives, so a cluster
//    can absorb others later (its id is kept: the oldest cluster's).
// Thread-safety: not thread-safe; one miner per stream, fed by one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace berth::logs::patterns {

struct MinerOptions {
  size_t min_values = 5;            // distinct values that make a position a variable
  size_t max_signatures = 100'000;  // beyond this, new signatures join a catch-all cluster
};

struct Pattern {
  uint64_t id = 0;
  std::string tmpl;
  uint64_t count = 0;
  int64_t first_seen = 0;
  int64_t last_seen = 0;
};

class TemplateMiner {
 public:
  explicit TemplateMiner(MinerOptions options = {}) : options_(options) {}

  struct Added {
    uint64_t cluster = 0;
    bool new_cluster = false;  // the line made a template never seen before
  };
  // Adds one line seen at `ts` (any unit the caller likes; kept as first/last seen).
  Added Add(std::string_view line, int64_t ts = 0);
  // The cluster a previously added line's signature belongs to now (merges may have moved
  // it); `signature` is what Add's line mapped to (see SignatureOf).
  uint64_t ClusterOfSignature(uint32_t signature);
  // The signature id of the last added line.
  uint32_t last_signature() const { return last_signature_; }
  // Current templates, most frequent first.
  std::vector<Pattern> Patterns();
  std::string TemplateOf(uint64_t cluster);

  // The masked tokens of a line (exposed for tests).
  static std::vector<std::string> Signature(std::string_view line);

 private:
  struct Group {
    uint32_t parent;
    std::vector<std::string> tmpl;  // valid at roots
    uint64_t count = 0;             // at roots: lines of the whole cluster
    uint64_t id = 0;                // at roots: the cluster id shown to users
    int64_t first_seen = 0;
    int64_t last_seen = 0;
  };
  uint32_t Find(uint32_t g);
  void MergeLength(size_t n);
  void Union(uint32_t a, uint32_t b);

  MinerOptions options_;
  std::vector<Group> groups_;  // one per signature
  std::unordered_map<std::string, uint32_t> by_signature_;
  std::map<size_t, std::vector<uint32_t>> by_length_;  // signatures by token count
  uint64_t next_id_ = 1;
  uint32_t last_signature_ = 0;
};

}  // namespace berth::logs::patterns
