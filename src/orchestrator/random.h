// Randomness as a collaborator: the scheduler shuffles nodes and names instances with a
// `Random&` it is given, so a seed makes a whole plan reproducible in tests and benches.
// Thread-safety: an instance is used by one thread at a time.
#pragma once

#include <cstdint>

namespace berth::orchestrator {

class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t Next() = 0;
  // Uniform in [0, n); 0 when n is 0.
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : Next() % n; }
};

// SplitMix64: small, fast, good enough for shuffling and ids; the same seed gives the same
// sequence on every platform.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next() override {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace berth::orchestrator
