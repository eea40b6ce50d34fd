#include "logs/analysis/exceptions.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace berth::logs::analysis {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsAlpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool IsIdent(char c) { return IsAlpha(c) || IsDigit(c) || c == '_' || c == '$'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    start = end + 1;
  }
  return out;
}

bool Indented(std::string_view s) { return !s.empty() && (s[0] == ' ' || s[0] == '\t'); }

// ---- Java (and Kotlin, Scala: any JVM trace) ----

// `java.lang.IllegalStateException` or `com.x.Foo$BarError`: a qualified class name that
// names an exception.
bool ExceptionClassName(std::string_view t) {
  if (t.find('.') == std::string_view::npos) return false;
  for (char c : t) {
    if (!IsIdent(c) && c != '.') return false;
  }
  return t.ends_with("Exception") || t.ends_with("Error") || t.ends_with("Throwable") ||
         t.ends_with("Fault");
}

// The exception named in a header line ("Exception in thread "main" java.lang.X: msg",
// "Caused by: x.Y", "12:00 ERROR failed: x.YException: msg"): its type and message.
bool JavaHeader(std::string_view line, StackTrace& out) {
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find_first_of(" \t", pos);
    if (end == std::string_view::npos) end = line.size();
    std::string_view token = line.substr(pos, end - pos);
    const bool colon = token.ends_with(":");
    if (colon) token.remove_suffix(1);
    if (ExceptionClassName(token)) {
      out.type = std::string(token);
      out.message = colon ? std::string(Trim(line.substr(end))) : "";
      return true;
    }
    pos = end + 1;
  }
  return false;
}

std::optional<StackTrace> ParseJava(const std::vector<std::string_view>& lines) {
  StackTrace t;
  t.language = "java";
  bool header = false;
  for (std::string_view raw : lines) {
    std::string_view line = Trim(raw);
    if (line.starts_with("at ")) {
      if (!header) continue;
      std::string_view frame = Trim(line.substr(3));
      frame = frame.substr(0, frame.find('('));
      if (auto slash = frame.find('/'); slash != std::string_view::npos) {
        frame.remove_prefix(slash + 1);  // java.base/java.lang.Thread.run: the module
      }
      t.frames.push_back(MaskVariables(frame));
      continue;
    }
    if (!t.frames.empty()) break;  // "Caused by:", "... 3 more": the first block is read
    StackTrace h;
    if (JavaHeader(line, h)) {
      t.type = std::move(h.type);
      t.message = std::move(h.message);
      header = true;
    }
  }
  if (!header || t.frames.empty()) return std::nullopt;
  return t;
}

// ---- Python ----

std::optional<StackTrace> ParsePython(const std::vector<std::string_view>& lines) {
  // The last traceback: with chained exceptions it is the one that ended the program.
  size_t start = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Trim(lines[i]).starts_with("Traceback (most recent call last):")) start = i;
  }
  if (start == lines.size()) return std::nullopt;
  StackTrace t;
  t.language = "python";
  for (size_t i = start + 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    std::string_view trimmed = Trim(line);
    if (trimmed.empty()) continue;
    if (trimmed.starts_with("File \"")) {
      size_t close = trimmed.find('"', 6);
      if (close == std::string_view::npos) continue;
      std::string_view path = trimmed.substr(6, close - 6);
      if (auto slash = path.rfind('/'); slash != std::string_view::npos) {
        path.remove_prefix(slash + 1);
      }
      std::string_view func;
      if (auto in = trimmed.find(", in ", close); in != std::string_view::npos) {
        func = Trim(trimmed.substr(in + 5));
      }
      t.frames.push_back(MaskVariables(fmt::format("{}:{}", path, func)));
      continue;
    }
    if (Indented(line)) continue;  // the source line under a frame, or a caret line
    // The exception line: "ValueError: bad value", or a bare "KeyboardInterrupt".
    size_t colon = trimmed.find(':');
    std::string_view type = trimmed.substr(0, colon);
    bool name = !type.empty() && type.find(' ') == std::string_view::npos;
    if (name) {
      t.type = std::string(type);
      t.message =
          colon == std::string_view::npos ? "" : std::string(Trim(trimmed.substr(colon + 1)));
    }
  }
  if (t.type.empty()) return std::nullopt;
  std::reverse(t.frames.begin(), t.frames.end());  // innermost first
  return t;
}

// ---- Go ----

// `main.(*Server).handle(0xc000, {0x1, 0x2})` -> `main.(*Server).handle`: the arguments, the
// last parenthesised group, dropped.
std::string_view GoFunction(std::string_view line) {
  if (!line.ends_with(")")) return line;
  int depth = 0;
  for (size_t i = line.size(); i-- > 0;) {
    if (line[i] == ')') ++depth;
    if (line[i] == '(' && --depth == 0) return line.substr(0, i);
  }
  return line;
}

std::optional<StackTrace> ParseGo(const std::vector<std::string_view>& lines) {
  StackTrace t;
  t.language = "go";
  size_t i = 0;
  for (; i < lines.size(); ++i) {
    std::string_view line = Trim(lines[i]);
    for (std::string_view kind : {"panic: ", "fatal error: "}) {
      if (line.starts_with(kind) && t.type.empty()) {
        t.type = std::string(kind.substr(0, kind.size() - 2));
        t.message = std::string(line.substr(kind.size()));
      }
    }
    if (!t.type.empty() && line.starts_with("goroutine ")) break;
  }
  if (t.type.empty()) return std::nullopt;
  // The panicking goroutine's frames: function lines, each followed by an indented file line;
  // the runtime's own panic frames on top are skipped.
  for (++i; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (Trim(line).empty() || Trim(line).starts_with("goroutine ")) break;
    if (Indented(line) || line.starts_with("created by ")) continue;
    std::string_view fn = GoFunction(Trim(line));
    if (fn.find(' ') != std::string_view::npos) continue;  // "exit status 2": no frame
    if (t.frames.empty() && (fn == "panic" || fn.starts_with("runtime."))) continue;
    t.frames.push_back(MaskVariables(fn));
  }
  return t;
}

// ---- C++ ----

std::optional<StackTrace> ParseNative(const std::vector<std::string_view>& lines) {
  StackTrace t;
  t.language = "c++";
  constexpr std::string_view kTerminate = "terminate called after throwing an instance of '";
  for (std::string_view raw : lines) {
    std::string_view line = Trim(raw);
    if (auto at = line.find(kTerminate); at != std::string_view::npos) {
      std::string_view rest = line.substr(at + kTerminate.size());
      t.type = std::string(rest.substr(0, rest.find('\'')));
    } else if (line.starts_with("what():")) {
      t.message = std::string(Trim(line.substr(7)));
    } else if (line.size() > 1 && line[0] == '#' && IsDigit(line[1])) {
      // "#3 0x55d in handle(Request const&) /src/api.cc:42" or "#3  handle (...) at x.cc:4"
      std::string_view frame = line.substr(line.find_first_of(" \t") == std::string_view::npos
                                               ? line.size()
                                               : line.find_first_of(" \t"));
      frame = Trim(frame);
      if (frame.starts_with("0x")) {
        size_t in = frame.find(" in ");
        frame = in == std::string_view::npos ? frame.substr(frame.size()) : frame.substr(in + 4);
      }
      frame = frame.substr(0, std::min(frame.find(" ("), frame.find(" at ")));
      frame = frame.substr(0, frame.find(" /"));
      if (size_t paren = frame.find('('); paren != std::string_view::npos && paren > 0) {
        frame = frame.substr(0, paren);  // the parameter list: the function is enough
      }
      frame = Trim(frame);
      if (!frame.empty()) t.frames.push_back(MaskVariables(frame));
    }
  }
  if (t.type.empty() && t.frames.empty()) return std::nullopt;
  if (t.type.empty()) {
    t.type = "native crash";
    t.message = std::string(Trim(lines.front()));
  }
  return t;
}

}  // namespace

std::string MaskVariables(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const bool word_start = i == 0 || !IsAlpha(s[i - 1]);
    if (word_start && s[i] == '0' && i + 2 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
        IsHex(s[i + 2])) {
      i += 2;
      while (i < s.size() && IsHex(s[i])) ++i;
      out += "<hex>";
      continue;
    }
    // A run of hex digits and dashes with a digit in it, 8 or longer: an id (uuid, hash).
    if (word_start && IsHex(s[i])) {
      size_t j = i;
      bool digit = false;
      while (j < s.size() && (IsHex(s[j]) || s[j] == '-')) digit |= IsDigit(s[j++]);
      if (digit && j - i >= 8 && (j == s.size() || !IsIdent(s[j]))) {
        out += "<id>";
        i = j;
        continue;
      }
    }
    if (word_start && IsDigit(s[i])) {
      while (i < s.size() && IsDigit(s[i])) ++i;
      out += "<n>";
      continue;
    }
    out += s[i++];
  }
  return out;
}

std::optional<StackTrace> ParseStackTrace(std::string_view record) {
  if (record.find('\n') == std::string_view::npos) return std::nullopt;  // one line: no trace
  auto lines = Lines(record);
  if (record.find("Traceback (most recent call last):") != std::string_view::npos) {
    return ParsePython(lines);
  }
  if (auto go = ParseGo(lines)) return go;
  if (auto java = ParseJava(lines)) return java;
  return ParseNative(lines);
}

std::string Fingerprint(const StackTrace& trace) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64: stable across builds and machines
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h ^= 0xff;  // a separator no text holds
    h *= 1099511628211ULL;
  };
  mix(trace.language);
  mix(trace.type);
  for (size_t i = 0; i < trace.frames.size() && i < kFingerprintFrames; ++i) mix(trace.frames[i]);
  return fmt::format("{:016x}", h);
}

bool ExceptionGroups::Add(std::string_view record, int64_t ts_ns, std::string_view instance) {
  auto trace = ParseStackTrace(record);
  if (!trace) return false;
  ++traces_;
  std::string fp = Fingerprint(*trace);
  auto [it, fresh] = groups_.try_emplace(fp);
  ExceptionGroup& g = it->second;
  if (fresh) {
    g.fingerprint = std::move(fp);
    g.language = trace->language;
    g.type = trace->type;
    trace->frames.resize(std::min(trace->frames.size(), kFingerprintFrames));
    g.frames = trace->frames;
    g.example = std::string(record.substr(0, 4096));
    g.first_seen_ns = g.last_seen_ns = ts_ns;
    g.message = std::move(trace->message);
  } else {
    g.first_seen_ns = std::min(g.first_seen_ns, ts_ns);
    if (ts_ns >= g.last_seen_ns) {
      g.last_seen_ns = ts_ns;
      g.message = std::move(trace->message);
    }
  }
  ++g.count;
  if (!instance.empty() && g.instances.size() < 20) g.instances.emplace(instance);
  return true;
}

std::vector<ExceptionGroup> ExceptionGroups::Groups() const {
  std::vector<ExceptionGroup> out;
  out.reserve(groups_.size());
  for (const auto& [fp, g] : groups_) out.push_back(g);
  std::sort(out.begin(), out.end(), [](const ExceptionGroup& a, const ExceptionGroup& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.last_seen_ns > b.last_seen_ns;
  });
  return out;
}

}  // namespace berth::logs::analysis
