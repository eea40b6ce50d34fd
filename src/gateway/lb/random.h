// Randomness as a collaborator: balancers that pick at random take a `Random&` so tests can
// script the choices. DefaultRandom is a fast non-cryptographic generator (xoshiro256**)
// seeded from std::random_device. Thread-safety: none; each worker owns its own Random.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace berth::gateway::lb {

class Random {
 public:
  virtual ~Random() = default;
  // A uniformly distributed 64-bit value.
  virtual uint64_t Next() = 0;
  // A value in [0, n); n > 0.
  uint64_t Uniform(uint64_t n) { return Next() % n; }
};

class DefaultRandom final : public Random {
 public:
  DefaultRandom() {
    std::random_device rd;
    for (auto& s : s_) s = (uint64_t{rd()} << 32) ^ rd() ^ 0x9e3779b97f4a7c15ULL;
  }
  explicit DefaultRandom(uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }
  uint64_t Next() override {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Test double: returns the scripted values in a loop.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::vector<uint64_t> values) : values_(std::move(values)) {}
  uint64_t Next() override { return values_[i_++ % values_.size()]; }

 private:
  std::vector<uint64_t> values_;
  size_t i_ = 0;
};

}  // namespace berth::gateway::lb
