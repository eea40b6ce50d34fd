#include "core/json_writer.h"

#include <fmt/format.h>

#include <iterator>

namespace berth {
namespace {

// Length of the well-formed UTF-8 sequence starting at text[i] (a byte >= 0x80), 0 if none
// (Unicode table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  auto at = [&](size_t k) -> unsigned {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
  };
  auto cont = [](unsigned b, unsigned lo = 0x80, unsigned hi = 0xBF) { return b >= lo && b <= hi; };
  const unsigned b0 = at(0);
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(at(1)) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    return cont(at(1), lo, hi) && cont(at(2)) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return cont(at(1), lo, hi) && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  return 0;
}

// The bytes of an ill-formed sequence at text[i] that one U+FFFD replaces: the lead byte and
// the continuation bytes that still fit it (Unicode's "maximal subpart", as Json's replace
// handler does), at least 1.
size_t IllFormedLength(std::string_view text, size_t i) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  size_t want = b0 >= 0xC2 && b0 <= 0xDF   ? 2
                : b0 >= 0xE0 && b0 <= 0xEF ? 3
                : b0 >= 0xF0 && b0 <= 0xF4 ? 4
                                           : 1;
  size_t n = 1;
  while (n < want && i + n < text.size()) {
    const auto b = static_cast<unsigned char>(text[i + n]);
    unsigned lo = 0x80, hi = 0xBF;
    if (n == 1 && b0 == 0xE0) lo = 0xA0;
    if (n == 1 && b0 == 0xED) hi = 0x9F;
    if (n == 1 && b0 == 0xF0) lo = 0x90;
    if (n == 1 && b0 == 0xF4) hi = 0x8F;
    if (b < lo || b > hi) break;
    ++n;
  }
  return n;
}

}  // namespace

size_t ValidUtf8Prefix(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
    } else if (size_t n = Utf8SequenceLength(text, i); n != 0) {
      i += n;
    } else {
      break;
    }
  }
  return i;
}

bool AppendJsonString(std::string& out, std::string_view text, JsonWriter::Utf8 utf8) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;  // start of the bytes not yet appended
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (size_t n = Utf8SequenceLength(text, i); n != 0) {
        i += n;
        continue;
      }
      if (utf8 == JsonWriter::Utf8::kFail) return false;
      out.append(text.data() + run, i - run);
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += IllFormedLength(text, i);
      run = i;
      continue;
    }
    out.append(text.data() + run, i - run);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char u[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(u, sizeof(u));
      }
    }
    run = ++i;
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
  return true;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  if (need_comma_) out_ += ',';
  need_comma_ = false;
  if (!AppendJsonString(out_, key, utf8_)) ok_ = false;
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  Separate();
  if (!AppendJsonString(out_, value, utf8_)) ok_ = false;
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  Separate();
  fmt::format_int text(value);
  out_.append(text.data(), text.size());
  return *this;
}

JsonWriter& JsonWriter::Uint(uint64_t value) {
  Separate();
  fmt::format_int text(value);
  out_.append(text.data(), text.size());
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  Separate();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Separate();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::Fixed(double value, int digits) {
  Separate();
  fmt::format_to(std::back_inserter(out_), "{:.{}f}", value, digits);
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  Separate();
  out_ += json;
  return *this;
}

}  // namespace berth
