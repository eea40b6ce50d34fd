// Randomness as a collaborator. Whoever picks at random (a balancer, the scheduler's
// shuffle, jittered backoff) takes a `Random&` in its constructor, so tests inject a
// SeededRandom or ScriptedRandom (core/testing/random.h) and get the same choices every run.
// FastRandom is the production generator: xoshiro256**, fast and not cryptographic (tokens
// and keys use OpenSSL's RAND_bytes).
// Thread-safety: none; an instance is used by one thread at a time (each worker owns one).
#pragma once

#include <cstdint>
#include <random>

namespace berth {

class Random {
 public:
  virtual ~Random() = default;
  // A uniformly distributed 64-bit value.
  virtual uint64_t Next() = 0;
  // A value in [0, n); 0 when n is 0.
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  // A value in [0, 1).
  double UniformDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
};

// One step of SplitMix64 (Steele, Lea, Flood 2014): advances `state`, returns the output.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman, Vigna), seeded from std::random_device, or from `seed` for a
// reproducible sequence.
class FastRandom final : public Random {
 public:
  FastRandom() {
    std::random_device rd;
    for (auto& s : s_) s = (uint64_t{rd()} << 32) ^ rd() ^ 0x9e3779b97f4a7c15ULL;
  }
  explicit FastRandom(uint64_t seed) {
    for (auto& s : s_) s = SplitMix64(seed);
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

}  // namespace berth
