#include "core/json.h"

#include <fmt/core.h>

#include <set>
#include <vector>

namespace berth {

Result<Json> ParseJson(std::string_view text, JsonLimits limits) {
  if (text.size() > limits.max_bytes) {
    return Fail(ErrorCode::kPayloadTooLarge,
                fmt::format("JSON body of {} bytes exceeds the limit of {}", text.size(),
                            limits.max_bytes));
  }
  // Track depth and duplicate keys during the parse; the callback sees every event.
  std::string error;
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::vector<bool> is_object;              // stack of open containers
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    if (!error.empty()) return false;
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= limits.max_depth) {
          error = fmt::format("JSON nesting deeper than {}", limits.max_depth);
          return false;
        }
        is_object.push_back(event == Json::parse_event_t::object_start);
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!is_object.empty()) {
          is_object.pop_back();
          keys.pop_back();
        }
        break;
      case Json::parse_event_t::key: {
        const auto& k = parsed.get_ref<const std::string&>();
        if (!keys.empty() && !keys.back().insert(k).second) {
          error = fmt::format("duplicate key \"{}\"", k);
          return false;
        }
        break;
      }
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    Json j = Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
    if (!error.empty()) return Fail(ErrorCode::kInvalidArgument, "malformed JSON: " + error);
    return j;
  } catch (const Json::parse_error& e) {
    if (!error.empty()) return Fail(ErrorCode::kInvalidArgument, "malformed JSON: " + error);
    // nlohmann's message already names the byte offset ("at line 1, column 7: ...").
    std::string what = e.what();
    auto pos = what.find("] ");
    return Fail(ErrorCode::kInvalidArgument,
                "malformed JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)));
  } catch (const Json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("malformed JSON: ") + e.what());
  }
}

Result<void> RejectUnknownFields(const Json& object,
                                 std::initializer_list<std::string_view> allowed,
                                 std::string_view what) {
  if (!object.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} must be a JSON object", what));
  }
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto a : allowed) known = known || a == key;
    if (!known) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("unknown field \"{}\" in {}", key, what));
    }
  }
  return {};
}

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

}  // namespace

bool AppendJsonString(std::string& out, std::string_view text) {
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
      size_t n = Utf8SequenceLength(text, i);
      if (n == 0) return false;
      i += n;
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

}  // namespace berth
