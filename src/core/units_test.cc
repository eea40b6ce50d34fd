#include "core/units.h"

#include <gtest/gtest.h>

#include <string>

namespace berth {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

struct DurationCase {
  std::string text;
  Millis want;
};

TEST(ParseDuration, ReadsGoSyntax) {
  const DurationCase cases[] = {
      {"0", Millis(0)},
      {"0s", Millis(0)},
      {"250ms", Millis(250)},
      {"1.5s", Millis(1500)},
      {".5s", Millis(500)},
      {"5.s", seconds(5)},
      {"1h30m", minutes(90)},
      {"2m", minutes(2)},
      {"1m30s", seconds(90)},
      {"1h1m1s1ms", Millis(3'661'001)},
      {"2d", hours(48)},
      {"1500000us", Millis(1500)},
      {"1500000\xc2\xb5s", Millis(1500)},
      {"3000000ns", Millis(3)},
      {"0.001s", Millis(1)},
      {"36500d", kMaxDuration},
  };
  for (const auto& c : cases) {
    auto d = ParseDuration(c.text);
    ASSERT_TRUE(d.has_value()) << c.text << ": " << d.error().message;
    EXPECT_EQ(*d, c.want) << c.text;
  }
}

struct BadCase {
  std::string text;
  std::string message;  // the whole error message
};

TEST(ParseDuration, RefusesWithWhatToWriteInstead) {
  const BadCase cases[] = {
      {"30", R"("30" has no unit: write 30s (or 30ms, 30m, 30h))"},
      {"1.5", R"("1.5" has no unit: write 1.5s (or 1.5ms, 1.5m, 1.5h))"},
      {"", "empty duration: write a number with a unit, like 30s"},
      {"-5s", R"("-5s" is negative: a duration is 0 or more)"},
      {"5x", R"("5x" has an unknown unit "x": use ns, us, ms, s, m, h or d)"},
      {"5S", R"("5S" has an unknown unit "S": use ns, us, ms, s, m, h or d)"},
      {"5 s", R"("5 s" has an unknown unit " s": use ns, us, ms, s, m, h or d)"},
      {"1h30",
       R"("1h30" is not a duration: write numbers with units (ns, us, ms, s, m, h, d), like 250ms, 1.5s or 1h30m)"},
      {"s",
       R"("s" is not a duration: write numbers with units (ns, us, ms, s, m, h, d), like 250ms, 1.5s or 1h30m)"},
      {"1.2.3s",
       R"("1.2.3s" is not a duration: write numbers with units (ns, us, ms, s, m, h, d), like 250ms, 1.5s or 1h30m)"},
      {"1.5ms", R"("1.5ms" is finer than a millisecond)"},
      {"100us", R"("100us" is finer than a millisecond)"},
      {"36501d", R"("36501d" is longer than 100 years)"},
      {"9999999999999999999h",
       R"("9999999999999999999h" is not a duration: write numbers with units (ns, us, ms, s, m, h, d), like 250ms, 1.5s or 1h30m)"},
  };
  for (const auto& c : cases) {
    auto d = ParseDuration(c.text);
    ASSERT_FALSE(d.has_value()) << c.text;
    EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(d.error().message, c.message) << c.text;
  }
}

TEST(ParseDuration, BareNumbersCountInTheUnitTheCallerNames) {
  EXPECT_EQ(ParseDuration("10", seconds(1)).value(), seconds(10));
  EXPECT_EQ(ParseDuration("1.5", seconds(1)).value(), Millis(1500));
  EXPECT_EQ(ParseDuration("500", Millis(1)).value(), Millis(500));
  EXPECT_EQ(ParseDuration("2m", seconds(1)).value(), minutes(2));  // a unit still wins
  EXPECT_FALSE(ParseDuration("1m30", seconds(1)).has_value());
}

TEST(FormatDuration, WritesTheShortestFormThatReadsBack) {
  const DurationCase cases[] = {
      {"0s", Millis(0)},  {"1500ms", Millis(1500)}, {"90s", seconds(90)},
      {"2m", minutes(2)}, {"90m", minutes(90)},     {"48h", hours(48)},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FormatDuration(c.want), c.text);
    EXPECT_EQ(ParseDuration(FormatDuration(c.want)).value(), c.want);
  }
}

struct QuantityCase {
  std::string text;
  int64_t want;
};

TEST(ParseBytes, ReadsKubernetesAndDockerUnitsAsPowersOf1024) {
  const QuantityCase cases[] = {
      {"0", 0},
      {"1048576", 1 << 20},
      {"512Mi", int64_t{512} << 20},
      {"1Gi", int64_t{1} << 30},
      {"1GiB", int64_t{1} << 30},
      {"64m", int64_t{64} << 20},
      {"64M", int64_t{64} << 20},
      {"64mb", int64_t{64} << 20},
      {"2k", 2048},
      {"2Ki", 2048},
      {"1.5Gi", int64_t{3} << 29},
      {"1Ti", int64_t{1} << 40},
      {"1Pi", int64_t{1} << 50},
      {"100b", 100},
      {"1.5", 2},
      {"4096Pi", int64_t{1} << 62},
  };
  for (const auto& c : cases) {
    auto b = ParseBytes(c.text);
    ASSERT_TRUE(b.has_value()) << c.text << ": " << b.error().message;
    EXPECT_EQ(*b, c.want) << c.text;
  }
}

TEST(ParseBytes, RefusesWithWhatToWriteInstead) {
  const BadCase cases[] = {
      {"",
       R"("" is not a size: write bytes (1048576) or a number with a unit, like 512Mi, 1Gi or 64m)"},
      {"Mi",
       R"("Mi" is not a size: write bytes (1048576) or a number with a unit, like 512Mi, 1Gi or 64m)"},
      {"12X",
       R"("12X" has an unknown unit "X": use Ki, Mi, Gi, Ti, Pi (or k, m, g, t, p), all powers of 1024)"},
      {"1 Gi",
       R"("1 Gi" has an unknown unit " Gi": use Ki, Mi, Gi, Ti, Pi (or k, m, g, t, p), all powers of 1024)"},
      {"-1Gi", R"("-1Gi" is negative: a size is 0 or more)"},
      {"4097Pi", R"("4097Pi" is larger than 4Ei)"},
  };
  for (const auto& c : cases) {
    auto b = ParseBytes(c.text);
    ASSERT_FALSE(b.has_value()) << c.text;
    EXPECT_EQ(b.error().message, c.message) << c.text;
  }
}

TEST(FormatBytes, UsesTheLargestExactBinaryUnit) {
  EXPECT_EQ(FormatBytes(0), "0");
  EXPECT_EQ(FormatBytes(1536), "1536");
  EXPECT_EQ(FormatBytes(int64_t{512} << 20), "512Mi");
  EXPECT_EQ(FormatBytes(int64_t{3} << 30), "3Gi");
  EXPECT_EQ(ParseBytes(FormatBytes(int64_t{3} << 29)).value(), int64_t{3} << 29);
}

TEST(ParseCpu, ReadsCoresAndMillicores) {
  const QuantityCase cases[] = {
      {"500m", 500},  {"0.5", 500}, {"2", 2000},
      {"1.25", 1250}, {"0", 0},     {"0m", 0},
      {"1m", 1},      {".1", 100},  {"1000000", 1'000'000'000},
  };
  for (const auto& c : cases) {
    auto v = ParseCpu(c.text);
    ASSERT_TRUE(v.has_value()) << c.text << ": " << v.error().message;
    EXPECT_EQ(*v, c.want) << c.text;
  }
}

TEST(ParseCpu, RefusesWithWhatToWriteInstead) {
  const BadCase cases[] = {
      {"2x", R"("2x" is not a CPU amount: write cores (0.5, 2) or millicores (500m))"},
      {"", R"("" is not a CPU amount: write cores (0.5, 2) or millicores (500m))"},
      {"m", R"("m" is not a CPU amount: write cores (0.5, 2) or millicores (500m))"},
      {"0.0005", R"("0.0005" is finer than a millicore (1m, a thousandth of a core))"},
      {"1.5m", R"("1.5m" is finer than a millicore (1m, a thousandth of a core))"},
      {"-1", R"("-1" is negative: a CPU amount is 0 or more)"},
      {"1000001", R"("1000001" is more than 1000000 cores)"},
  };
  for (const auto& c : cases) {
    auto v = ParseCpu(c.text);
    ASSERT_FALSE(v.has_value()) << c.text;
    EXPECT_EQ(v.error().message, c.message) << c.text;
  }
}

TEST(FormatCpu, WritesWholeCoresOrMillicores) {
  EXPECT_EQ(FormatCpu(2000), "2");
  EXPECT_EQ(FormatCpu(500), "500m");
  EXPECT_EQ(FormatCpu(0), "0m");
  EXPECT_EQ(ParseCpu(FormatCpu(1500)).value(), 1500);
}

TEST(Quoted, EscapesQuotesAndControlBytesAndCutsLongText) {
  EXPECT_EQ(Quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Quoted(std::string("x\n\x01", 3)), R"("x\x0a\x01")");
  EXPECT_EQ(Quoted(std::string(70, 'a')), "\"" + std::string(64, 'a') + "...\"");
}

}  // namespace
}  // namespace berth
