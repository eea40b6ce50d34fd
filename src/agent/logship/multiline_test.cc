#include "agent/logship/multiline.h"

#include <gtest/gtest.h>

#include "agent/logship/cri.h"

namespace berth::agent::logship {
namespace {

std::vector<std::string> Join(const std::vector<std::string>& lines) {
  MultilineJoiner j;
  std::vector<Record> out;
  int64_t t = 1;
  for (const auto& l : lines) j.Add(t++, l, out);
  j.Flush(t, out, true);
  std::vector<std::string> texts;
  for (const auto& r : out) texts.push_back(r.text);
  return texts;
}

TEST(Multiline, JavaStackTraceWithCauseIsOneRecord) {
  auto r = Join({"12:00 INFO starting",
                 "Exception in thread \"main\" java.lang.IllegalStateException: boom",
                 "\tat com.shop.Cart.add(Cart.java:42)", "\tat com.shop.Main.main(Main.java:7)",
                 "Caused by: java.io.IOException: disk", "\tat com.shop.Disk.write(Disk.java:3)",
                 "\t... 2 more", "12:01 INFO next"});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1].substr(0, 30), "Exception in thread \"main\" jav");
  EXPECT_NE(r[1].find("... 2 more"), std::string::npos);
  EXPECT_EQ(r[2], "12:01 INFO next");
}

TEST(Multiline, PythonTracebackEndsWithItsExceptionLine) {
  auto r = Join({"Traceback (most recent call last):", "  File \"app.py\", line 3, in <module>",
                 "    main()", "ValueError: bad input", "INFO after"});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0],
            "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    "
            "main()\nValueError: bad input");
  EXPECT_EQ(r[1], "INFO after");
}

TEST(Multiline, GoPanicWithBlankLinesAndGoroutines) {
  auto r = Join({"panic: runtime error: index out of range [3] with length 3", "",
                 "goroutine 1 [running]:", "main.main()", "\t/app/main.go:8 +0x1d", "exit status 2",
                 "next line"});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_NE(r[0].find("/app/main.go:8"), std::string::npos);
  EXPECT_EQ(r[1], "next line");
}

TEST(Multiline, CxxTerminateAndNativeFrames) {
  auto r = Join({"terminate called after throwing an instance of 'std::runtime_error'",
                 "  what():  boom", "#0 0x7f00 in abort", "#1 0x7f01 in main", "done"});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_NE(r[0].find("#1 0x7f01 in main"), std::string::npos);
}

TEST(Multiline, APendingRecordIsFlushedAfterQuietTime) {
  MultilineJoiner j(1000);
  std::vector<Record> out;
  j.Add(10, "Exception: x", out);
  j.Add(20, "\tat a.b(c)", out);
  j.Flush(500, out);
  EXPECT_TRUE(out.empty());
  j.Flush(1020, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ts_ns, 10);
}

TEST(Cri, ParsesTheShimsLinesAndRefusesOthers) {
  auto l = ParseCriLine("2026-12-07T19:00:01.000000005Z stderr P half of a line");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->ts_ns, 1796670001000000005);
  EXPECT_EQ(l->stream, "stderr");
  EXPECT_TRUE(l->partial);
  EXPECT_EQ(l->text, "half of a line");
  EXPECT_TRUE(ParseCriLine("2026-12-07T19:00:01Z stdout F "));
  EXPECT_FALSE(ParseCriLine("not a cri line"));
  EXPECT_FALSE(ParseCriLine("2026-12-07T19:00:01Z stdout X text"));
}

}  // namespace
}  // namespace berth::agent::logship
