#include "agent/logship/multiline.h"

namespace berth::agent::logship {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool Indented(std::string_view s) { return !s.empty() && (s[0] == ' ' || s[0] == '\t'); }

// `#12 0x...` or `#3  in foo()`: a native backtrace frame.
bool NativeFrame(std::string_view s) {
  return s.size() > 2 && s[0] == '#' && s[1] >= '0' && s[1] <= '9';
}

// `main.main()`, `net/http.(*conn).serve(0xc000)`: a Go frame's function line.
bool GoFunctionLine(std::string_view s) {
  return !s.empty() && s.back() == ')' && s.find('(') != std::string_view::npos &&
         s.find(' ') == std::string_view::npos;
}

}  // namespace

bool MultilineJoiner::Continues(std::string_view line) const {
  if (!has_pending_) return false;
  switch (mode_) {
    case Mode::kPython:
      // Indented frames, then the unindented exception line, which ends the record.
      return !python_done_;
    case Mode::kGo:
      return line.empty() || Indented(line) || StartsWith(line, "goroutine ") ||
             StartsWith(line, "[") || StartsWith(line, "created by ") || GoFunctionLine(line) ||
             StartsWith(line, "exit status ");
    case Mode::kPlain:
      return Indented(line) || StartsWith(line, "Caused by:") || StartsWith(line, "Suppressed:") ||
             StartsWith(line, "...") || NativeFrame(line);
  }
  return false;
}

void MultilineJoiner::Emit(std::vector<Record>& out) {
  if (!has_pending_) return;
  out.push_back(std::move(pending_));
  pending_ = Record();
  has_pending_ = false;
  mode_ = Mode::kPlain;
  python_done_ = false;
  lines_ = 0;
}

void MultilineJoiner::Add(int64_t ts_ns, std::string_view line, std::vector<Record>& out) {
  if (Continues(line) && pending_.text.size() + line.size() + 1 <= max_bytes_) {
    pending_.text += '\n';
    pending_.text += line;
    ++lines_;
    last_ts_ = ts_ns;
    if (mode_ == Mode::kPython && !Indented(line) && !line.empty()) python_done_ = true;
    return;
  }
  Emit(out);
  has_pending_ = true;
  pending_.ts_ns = ts_ns;
  pending_.text.assign(line);
  last_ts_ = ts_ns;
  lines_ = 1;
  if (StartsWith(line, "Traceback (most recent call last):")) {
    mode_ = Mode::kPython;
  } else if (StartsWith(line, "panic: ") || StartsWith(line, "fatal error: ")) {
    mode_ = Mode::kGo;
  } else {
    mode_ = Mode::kPlain;
  }
}

void MultilineJoiner::Flush(int64_t now_ns, std::vector<Record>& out, bool force) {
  if (has_pending_ && (force || now_ns - last_ts_ >= flush_after_ns_)) Emit(out);
}

}  // namespace berth::agent::logship
