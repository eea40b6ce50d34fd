// JSON for the whole tree: nlohmann-json (one library, used consistently). This header is
// template-heavy: include it from .cc files, not from widely included headers; headers that
// only pass JSON around include <nlohmann/json_fwd.hpp>.
// Thread-safety: plain values.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace berth {

using Json = nlohmann::json;

struct JsonLimits {
  size_t max_bytes = 4 << 20;
  int max_depth = 64;
};

// Parses `text` strictly: one JSON value, no trailing garbage, no duplicate keys at any
// depth, nesting at most `max_depth`. Errors name the byte offset.
Result<Json> ParseJson(std::string_view text, JsonLimits limits = {});

// Checks that `object` is an object whose keys are all in `allowed`; the error names the
// first unknown field ("unknown field \"x\" in <what>").
Result<void> RejectUnknownFields(const Json& object,
                                 std::initializer_list<std::string_view> allowed,
                                 std::string_view what);

// Appends `text` as a JSON string (quotes included), byte for byte as Json(text).dump() writes
// it: `"` `\\` and \b \f \n \r \t escaped, other bytes below 0x20 as \u00xx, UTF-8 kept
// as is. Returns false when `text` is not well-formed UTF-8 (dump would throw, or replace with
// another error handler); `out` then holds a partial string and the caller falls back to Json.
// For hand-written renderers of hot paths whose output must equal Json's.
bool AppendJsonString(std::string& out, std::string_view text);

}  // namespace berth
