// Line diffs of config versions, in the unified format `diff -u` and `git diff` print, so
// people read them with the tools they know. Myers' O((N+M)·D) algorithm on the lines that
// differ (common head and tail stripped first); when the edit distance passes `max_edits`
// the middle is shown as removed then added, which is still a correct diff.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::config {

struct DiffOptions {
  int context = 3;           // unchanged lines shown around each change
  int64_t max_edits = 2000;  // past this many inserted+deleted lines, stop searching
};

struct TextDiff {
  std::string unified;  // empty when the texts are equal
  int64_t added = 0;    // lines
  int64_t removed = 0;
};

// Diff from `a` (named `a_name` in the "---" line) to `b` (`b_name`, "+++").
TextDiff DiffLines(std::string_view a, std::string_view b, std::string_view a_name,
                   std::string_view b_name, const DiffOptions& options = {});

}  // namespace berth::config
