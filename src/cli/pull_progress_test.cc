// The pull progress view on both of its paths: plain lines (not a terminal) and the bar.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/pull_progress.h"

namespace berth::cli {
namespace {

const std::string kA = "sha256:aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000";
const std::string kB = "sha256:bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000";

TEST(PullProgressViewTest, PlainLinesWhenNotATerminal) {
  std::ostringstream out;
  PullProgressView v(out, false);
  v.Update(kA, 0, 2'000'000);
  v.Update(kA, 1'000'000, 2'000'000);
  v.Update(kB, 500, 500);
  v.Update(kA, 2'000'000, 2'000'000);
  v.Update(kA, 2'000'000, 2'000'000);  // a repeated final report prints nothing more
  v.Finish();
  EXPECT_EQ(out.str(),
            "pulling aaaaaaaaaaaa (2.0 MB)\n"
            "pulling bbbbbbbbbbbb (0.0 MB)\n"
            "pulled  bbbbbbbbbbbb\n"
            "pulled  aaaaaaaaaaaa\n");
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
  EXPECT_EQ(out.str().find('\033'), std::string::npos);
}

TEST(PullProgressViewTest, RedrawnBarOnATerminal) {
  std::ostringstream out;
  PullProgressView v(out, true);
  v.Update(kA, 0, 3'000'000);
  v.Update(kB, 0, 1'000'000);
  v.Update(kA, 1'000'000, 3'000'000);
  EXPECT_EQ(v.Bar(), "[#######.......................]  25% 1.0 MB / 4.0 MB  0/2 blobs");
  v.Update(kB, 1'000'000, 1'000'000);
  EXPECT_EQ(v.Bar(), "[###############...............]  50% 2.0 MB / 4.0 MB  1/2 blobs");
  v.Update(kA, 3'000'000, 3'000'000);
  EXPECT_EQ(v.Bar(), "[##############################] 100% 4.0 MB / 4.0 MB  2/2 blobs");
  v.Finish();
  const std::string s = out.str();
  EXPECT_NE(s.find("\r\033[K[#######"), std::string::npos) << s;
  EXPECT_NE(s.find("\r\033[Kpulled  bbbbbbbbbbbb (1.0 MB)\n"), std::string::npos) << s;
  EXPECT_TRUE(s.ends_with("\r\033[K")) << s;  // the bar is cleared at the end
}

}  // namespace
}  // namespace berth::cli
