// CVSS base scores against the figures FIRST publishes for these vectors (the v3.1
// specification's examples and calculator) and NVD's v2 scores.
#include "security/scan/cvss.h"

#include <gtest/gtest.h>

namespace berth::security::scan {
namespace {

TEST(Cvss, V3BaseScoresMatchThePublishedFigures) {
  const std::pair<const char*, double> kCases[] = {
      {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
      {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0},
      {"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1},
      {"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8},
      {"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9},
      {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5},
      {"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8},
      {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3},
      {"CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 4.6},
      {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0},
      {"CVSS:3.1/AV:N/AC:L/PR:H/UI:R/S:C/C:L/I:L/A:N/E:P/RL:O", 4.8},  // temporal ignored
      {"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:L/I:L/A:N", 5.5},
  };
  for (const auto& [vector, want] : kCases) {
    auto s = ScoreCvss(vector);
    ASSERT_TRUE(s.has_value()) << vector << ": " << s.error().message;
    EXPECT_DOUBLE_EQ(s->score, want) << vector;
    EXPECT_EQ(s->version, 3);
  }
  EXPECT_EQ(ScoreCvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")->severity,
            Severity::kCritical);
  EXPECT_EQ(ScoreCvss("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")->severity, Severity::kMedium);
}

TEST(Cvss, V2BaseScoresMatchNvd) {
  EXPECT_DOUBLE_EQ(ScoreCvss("AV:N/AC:L/Au:N/C:P/I:P/A:P")->score, 7.5);
  EXPECT_DOUBLE_EQ(ScoreCvss("AV:N/AC:L/Au:N/C:C/I:C/A:C")->score, 10.0);
  EXPECT_DOUBLE_EQ(ScoreCvss("AV:N/AC:M/Au:N/C:N/I:P/A:N")->score, 4.3);
  EXPECT_DOUBLE_EQ(ScoreCvss("(AV:L/AC:L/Au:N/C:C/I:C/A:C)")->score, 7.2);
}

TEST(Cvss, BadVectorsNameTheMetric) {
  auto missing = ScoreCvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("has no A"), std::string::npos) << missing.error().message;
  auto twice = ScoreCvss("CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
  EXPECT_NE(twice.error().message.find("AV is given twice"), std::string::npos);
  auto value = ScoreCvss("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
  EXPECT_NE(value.error().message.find("AV:X"), std::string::npos);
  EXPECT_EQ(
      ScoreCvss("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").error().code,
      ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(ScoreCvss("garbage").has_value());
  EXPECT_FALSE(ScoreCvss("").has_value());
}

}  // namespace
}  // namespace berth::security::scan
