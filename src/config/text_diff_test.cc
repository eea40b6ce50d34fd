#include "config/text_diff.h"

#include <gtest/gtest.h>

namespace berth::config {
namespace {

TEST(TextDiffTest, EqualTextsHaveNoDiff) {
  auto d = DiffLines("a\nb\n", "a\nb\n", "x@1", "x@2");
  EXPECT_EQ(d.unified, "");
  EXPECT_EQ(d.added, 0);
}

TEST(TextDiffTest, OneChangedLineAsDiffUPrintsIt) {
  auto d = DiffLines("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n", "x@1", "x@2");
  EXPECT_EQ(d.unified, "--- x@1\n+++ x@2\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n");
  EXPECT_EQ(d.added, 1);
  EXPECT_EQ(d.removed, 1);
}

TEST(TextDiffTest, InsertionAtTheStartAndDeletionAtTheEnd) {
  auto d = DiffLines("a\nb\n", "z\na\n", "o", "n");
  EXPECT_EQ(d.unified, "--- o\n+++ n\n@@ -1,2 +1,2 @@\n+z\n a\n-b\n");
}

TEST(TextDiffTest, DistantChangesMakeTwoHunks) {
  std::string a, b;
  for (int i = 0; i < 20; ++i) {
    a += std::to_string(i) + "\n";
    b += (i == 1 || i == 18 ? "x" : std::to_string(i)) + "\n";
  }
  auto d = DiffLines(a, b, "o", "n");
  EXPECT_EQ(d.unified,
            "--- o\n+++ n\n@@ -1,5 +1,5 @@\n 0\n-1\n+x\n 2\n 3\n 4\n"
            "@@ -16,5 +16,5 @@\n 15\n 16\n 17\n-18\n+x\n 19\n");
}

TEST(TextDiffTest, MissingFinalNewlineIsShown) {
  auto d = DiffLines("a\nb", "a\nb\n", "o", "n");
  EXPECT_EQ(d.unified, "--- o\n+++ n\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
}

TEST(TextDiffTest, FromAndToEmpty) {
  EXPECT_EQ(DiffLines("", "a\n", "o", "n").unified, "--- o\n+++ n\n@@ -0,0 +1 @@\n+a\n");
  EXPECT_EQ(DiffLines("a\n", "", "o", "n").unified, "--- o\n+++ n\n@@ -1 +0,0 @@\n-a\n");
}

TEST(TextDiffTest, PastMaxEditsStillACorrectDiff) {
  std::string a, b;
  for (int i = 0; i < 50; ++i) {
    a += "a" + std::to_string(i) + "\n";
    b += "b" + std::to_string(i) + "\n";
  }
  auto d = DiffLines(a, b, "o", "n", {.context = 3, .max_edits = 10});
  EXPECT_EQ(d.added, 50);
  EXPECT_EQ(d.removed, 50);
}

// Applying the diff's lines in order gives the new text: checked on many small random
// pairs against the minimal edit count from a plain LCS table.
TEST(TextDiffTest, RandomPairsAreMinimalAndApply) {
  uint64_t seed = 42;
  auto next = [&] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>(seed >> 33);
  };
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> la, lb;
    int n = next() % 12, m = next() % 12;
    for (int i = 0; i < n; ++i) la.push_back(std::string(1, 'a' + next() % 4));
    for (int i = 0; i < m; ++i) lb.push_back(std::string(1, 'a' + next() % 4));
    std::string a, b;
    for (auto& l : la) a += l + "\n";
    for (auto& l : lb) b += l + "\n";
    auto d = DiffLines(a, b, "o", "n", {.context = 1000});
    std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
    for (int i = n - 1; i >= 0; --i)
      for (int j = m - 1; j >= 0; --j)
        lcs[i][j] = la[i] == lb[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    EXPECT_EQ(d.added + d.removed, n + m - 2 * lcs[0][0]) << a << "|" << b;
    if (a == b) continue;
    std::string rebuilt, old;
    size_t pos = d.unified.find("@@");
    pos = d.unified.find('\n', pos) + 1;
    while (pos < d.unified.size()) {
      size_t end = d.unified.find('\n', pos);
      std::string line = d.unified.substr(pos, end - pos);
      if (line[0] != '-') rebuilt += line.substr(1) + "\n";
      if (line[0] != '+') old += line.substr(1) + "\n";
      pos = end + 1;
    }
    EXPECT_EQ(rebuilt, b);
    EXPECT_EQ(old, a);
  }
}

}  // namespace
}  // namespace berth::config
