#include "core/random.h"

#include <gtest/gtest.h>

#include <set>

#include "core/testing/random.h"

namespace berth {
namespace {

TEST(Random, SeededGeneratorsRepeatTheirSequence) {
  FastRandom a(42), b(42), c(43);
  SeededRandom d(42), e(42);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t va = a.Next();
    EXPECT_EQ(va, b.Next());
    differs = differs || va != c.Next();
    EXPECT_EQ(d.Next(), e.Next());
  }
  EXPECT_TRUE(differs);
}

TEST(Random, UniformStaysInRange) {
  FastRandom r;
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = r.Uniform(5);
    ASSERT_LT(v, 5u);
    seen.insert(v);
    const double d = r.UniformDouble();
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(r.Uniform(0), 0u);
}

TEST(Random, ScriptedRandomReplaysItsValuesInALoop) {
  ScriptedRandom r({3, 1});
  EXPECT_EQ(r.Next(), 3u);
  EXPECT_EQ(r.Next(), 1u);
  EXPECT_EQ(r.Uniform(2), 1u);
}

}  // namespace
}  // namespace berth
