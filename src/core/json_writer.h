// A small, fast JSON writer for hot paths (registry listings and watch events, access log
// lines): appends to a caller's std::string without building a tree. Everywhere speed does
// not matter, build a `Json` (core/json.h) instead.
//
//   std::string out;
//   JsonWriter w(out);
//   w.BeginObject().Key("id").String(id).Key("port").Int(port);
//   w.Key("tags").BeginArray();
//   for (const auto& t : tags) w.String(t);
//   w.EndArray().EndObject();
//   if (!w.ok()) ...;  // a string was not UTF-8 (with Utf8::kFail)
//
// Commas are the writer's business; keys are written as given (a caller that must equal
// Json::dump() writes them in its sorted order). Strings are escaped byte for byte as
// Json::dump() escapes them. Ill-formed UTF-8 either fails the writer (ok() false; the caller
// falls back to the Json path, whose error handling then applies) or is replaced by U+FFFD
// (Json's error_handler_t::replace), for logs that must never lose a line.
// Thread-safety: one writer per thread; the string belongs to the caller.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth {

class JsonWriter {
 public:
  enum class Utf8 { kFail, kReplace };

  explicit JsonWriter(std::string& out, Utf8 utf8 = Utf8::kFail) : out_(out), utf8_(utf8) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  // An object member's key; the next call writes its value.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // `digits` after the point ("%.3f"), for figures such as durations in milliseconds.
  JsonWriter& Fixed(double value, int digits);
  // Already-encoded JSON text, written as one value.
  JsonWriter& Raw(std::string_view json);

  // False once a string was ill-formed UTF-8 under Utf8::kFail.
  bool ok() const { return ok_; }

 private:
  void Separate() {
    if (after_key_) {
      after_key_ = false;
    } else if (need_comma_) {
      out_ += ',';
    }
    need_comma_ = true;
  }
  JsonWriter& Open(char c) {
    Separate();
    out_ += c;
    need_comma_ = false;
    return *this;
  }
  JsonWriter& Close(char c) {
    out_ += c;
    need_comma_ = true;
    return *this;
  }

  std::string& out_;
  Utf8 utf8_;
  bool ok_ = true;
  bool need_comma_ = false;  // a value was written at this level: the next one needs ','
  bool after_key_ = false;   // a key was written: the next value follows its ':'
};

// Appends `text` as a JSON string (quotes included), escaped as Json::dump() escapes it:
// `"` `\` and \b \f \n \r \t, other bytes below 0x20 as \u00xx, UTF-8 kept as is. Ill-formed
// UTF-8: returns false with kFail (`out` then holds a partial string), or writes U+FFFD for
// each ill-formed sequence with kReplace (and returns true).
// (core/json.h declares the two-argument form, kFail.)
bool AppendJsonString(std::string& out, std::string_view text, JsonWriter::Utf8 utf8);

// The length of the longest prefix of `text` that is well-formed UTF-8 (text.size() when
// all of it is).
size_t ValidUtf8Prefix(std::string_view text);

}  // namespace berth
