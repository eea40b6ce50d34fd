// Test doubles for core/random.h. SeededRandom: SplitMix64 from a seed, the same sequence on
// every platform (a seed makes a whole plan reproducible). ScriptedRandom: the given values
// in a loop, for tests that choose each pick.
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/random.h"

namespace berth {

class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next() override { return SplitMix64(state_); }

 private:
  uint64_t state_;
};

class ScriptedRandom final : public Random {
 public:
  // `values` must not be empty.
  explicit ScriptedRandom(std::vector<uint64_t> values) : values_(std::move(values)) {}
  uint64_t Next() override { return values_[i_++ % values_.size()]; }

 private:
  std::vector<uint64_t> values_;
  size_t i_ = 0;
};

}  // namespace berth
