#include "config/formats.h"

#include <fmt/core.h>

#include <map>
#include <string>

#include "core/input.h"
#include "core/units.h"

// toml++ header-only, without exceptions: parse() returns a parse_result. Only this file
// includes it, so the choice cannot differ between translation units.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

namespace berth::config {
namespace {

// 1-based line and column of byte `offset`.
std::pair<size_t, size_t> LineColumn(std::string_view text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

Result<void> ValidateToml(std::string_view content, std::string_view source) {
  toml::parse_result r = toml::parse(content, source);
  if (r) return {};
  const toml::parse_error& e = r.error();
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("{}:{}:{}: toml: {}", source, e.source().begin.line,
                          e.source().begin.column, e.description()));
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// One logical line of a .properties file (continuations joined, as Properties.load reads
// it), with the line its first physical line is on.
struct LogicalLine {
  std::string text;
  size_t line = 0;
};

std::vector<LogicalLine> PropertyLines(std::string_view content) {
  std::vector<LogicalLine> out;
  size_t pos = 0, line = 1;
  bool continuing = false;
  while (pos <= content.size()) {
    size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view raw = content.substr(pos, end - pos);
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    size_t first = raw.find_first_not_of(" \t\f");
    std::string_view trimmed = first == std::string_view::npos ? "" : raw.substr(first);
    if (!continuing) {
      if (!trimmed.empty() && trimmed[0] != '#' && trimmed[0] != '!') {
        out.push_back({std::string(trimmed), line});
        continuing = true;
      }
    } else {
      out.back().text.append(trimmed);
    }
    if (continuing) {
      // An odd number of trailing backslashes continues the line.
      std::string& t = out.back().text;
      size_t slashes = 0;
      while (slashes < t.size() && t[t.size() - 1 - slashes] == '\\') ++slashes;
      if (slashes % 2 == 1) {
        t.pop_back();
      } else {
        continuing = false;
      }
    }
    if (end == content.size()) break;
    pos = end + 1;
    ++line;
  }
  return out;
}

// Properties.load's key: up to the first unescaped '=', ':' or white space; escapes decoded.
Result<void> ValidateProperties(std::string_view content, std::string_view source) {
  std::map<std::string, size_t> seen;
  for (const LogicalLine& l : PropertyLines(content)) {
    std::string key;
    bool in_key = true;
    for (size_t i = 0; i < l.text.size(); ++i) {
      char c = l.text[i];
      if (c == '\\') {
        if (i + 1 >= l.text.size()) break;
        char n = l.text[++i];
        if (n == 'u') {
          if (i + 4 >= l.text.size() || !IsHex(l.text[i + 1]) || !IsHex(l.text[i + 2]) ||
              !IsHex(l.text[i + 3]) || !IsHex(l.text[i + 4])) {
            return Fail(ErrorCode::kInvalidArgument,
                        fmt::format("{}:{}: properties: malformed \\uxxxx escape (four hex digits "
                                    "must follow \\u)",
                                    source, l.line));
          }
          if (in_key) key.append(l.text, i - 1, 6);
          i += 4;
        } else if (in_key) {
          key.push_back(n);
        }
        continue;
      }
      if (in_key && (c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f')) {
        in_key = false;
        continue;
      }
      if (in_key) key.push_back(c);
    }
    auto [it, inserted] = seen.emplace(key, l.line);
    if (!inserted) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: properties: key {} is given twice (first on line {})", source,
                              l.line, Quoted(key), it->second));
    }
  }
  return {};
}

}  // namespace

size_t FirstInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are ill-formed.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

Result<void> ValidateContent(Format format, std::string_view content, std::string_view source) {
  if (size_t bad = FirstInvalidUtf8(content); bad != std::string_view::npos) {
    auto [line, col] = LineColumn(content, bad);
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}:{}:{}: not UTF-8 (byte 0x{:02x} at offset {}); configs are text",
                            source, line, col, static_cast<unsigned char>(content[bad]), bad));
  }
  input::Limits limits{.max_bytes = content.size() + 1, .max_depth = 128};
  switch (format) {
    case Format::kYaml: {
      auto doc = input::ParseYaml(content, source, limits);
      if (!doc) return std::unexpected(doc.error());
      return {};
    }
    case Format::kJson: {
      auto doc = input::ParseJson(content, source, limits);
      if (!doc) return std::unexpected(doc.error());
      return {};
    }
    case Format::kToml:
      return ValidateToml(content, source);
    case Format::kProperties:
      return ValidateProperties(content, source);
    case Format::kText:
      return {};
  }
  return {};
}

}  // namespace berth::config
