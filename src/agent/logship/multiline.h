// Joins the lines of one container stream into log records, so a stack trace is one record:
// Java (`\tat ...`, `Caused by:`, `... 3 more`), Python (`Traceback (most recent call
// last):` through the exception line), Go (`panic:` / `fatal error:` with its goroutine
// dumps and blank lines), C++ (`terminate called ...` with `  what():`, `#N` frames) and any
// continuation line that starts with white space. A record ends when a line that does not
// continue it arrives, or when no line came for `flush_after` (Flush).
// Thread-safety: not thread-safe; one joiner per stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::agent::logship {

struct Record {
  int64_t ts_ns = 0;  // the first line's
  std::string text;   // lines joined with '\n'
};

class MultilineJoiner {
 public:
  explicit MultilineJoiner(int64_t flush_after_ns = 1'000'000'000, size_t max_bytes = 256 * 1024)
      : flush_after_ns_(flush_after_ns), max_bytes_(max_bytes) {}
  // Adds a line seen at `ts_ns` (also the clock Flush compares against); completed records
  // are appended to `out`.
  void Add(int64_t ts_ns, std::string_view line, std::vector<Record>& out);
  // Emits the pending record when its last line is older than flush_after at `now_ns`, or
  // always with `force`.
  void Flush(int64_t now_ns, std::vector<Record>& out, bool force = false);
  bool pending() const { return has_pending_; }

 private:
  enum class Mode { kPlain, kPython, kGo };
  bool Continues(std::string_view line) const;
  void Emit(std::vector<Record>& out);

  const int64_t flush_after_ns_;
  const size_t max_bytes_;
  bool has_pending_ = false;
  Record pending_;
  int64_t last_ts_ = 0;
  Mode mode_ = Mode::kPlain;
  bool python_done_ = false;  // the exception line came: the next line starts a new record
  size_t lines_ = 0;
};

}  // namespace berth::agent::logship
