#include "core/json.h"

#include "core/json_writer.h"

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

bool AppendJsonString(std::string& out, std::string_view text) {
  return AppendJsonString(out, text, JsonWriter::Utf8::kFail);
}

}  // namespace berth
