#include "logs/coding.h"

#include <gtest/gtest.h>

namespace berth::logs {
namespace {

TEST(Coding, VarintsRoundTripAtTheirLimits) {
  for (uint64_t v : std::initializer_list<uint64_t>{0, 1, 127, 128, 300, 1ull << 35, ~0ull}) {
    std::string buf;
    PutVarint(buf, v);
    std::string_view in = buf;
    ASSERT_EQ(GetVarint(in), v);
    EXPECT_TRUE(in.empty());
  }
  for (int64_t v : std::initializer_list<int64_t>{0, -1, 1, INT64_MIN, INT64_MAX})
    EXPECT_EQ(UnZigZag(ZigZag(v)), v);
}

TEST(Coding, TruncatedVarintIsRefused) {
  std::string buf;
  PutVarint(buf, 1ull << 40);
  std::string_view in = std::string_view(buf).substr(0, buf.size() - 1);
  EXPECT_FALSE(GetVarint(in).has_value());
}

TEST(Coding, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Coding, FramedRecordsReadBackAndATornTailIsFlagged) {
  std::string buf;
  AppendFramed(buf, "first");
  AppendFramed(buf, "second");
  std::string whole = buf;
  bool torn = true;
  std::string_view in = whole;
  EXPECT_EQ(ReadFramed(in, torn), "first");
  EXPECT_EQ(ReadFramed(in, torn), "second");
  EXPECT_FALSE(ReadFramed(in, torn).has_value());
  EXPECT_FALSE(torn);

  std::string cut = whole.substr(0, whole.size() - 2);
  in = cut;
  EXPECT_EQ(ReadFramed(in, torn), "first");
  EXPECT_FALSE(ReadFramed(in, torn).has_value());
  EXPECT_TRUE(torn);

  std::string flipped = whole;
  flipped[kFrameHeader + 1] ^= 1;
  in = flipped;
  EXPECT_FALSE(ReadFramed(in, torn).has_value());
  EXPECT_TRUE(torn);
}

}  // namespace
}  // namespace berth::logs
