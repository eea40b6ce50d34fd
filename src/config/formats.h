// Checks a config's bytes against its format before anything is stored, so a syntax error
// never reaches a running program. Every error is a kInvalidArgument that names the item and
// the line (and column where the parser knows it): `shop/app.yaml:3:9: ...`.
//   yaml        the tree's strict YAML reader (core/input.h): one document, no duplicate keys
//   json        strict JSON (one value, no duplicate keys, no trailing text)
//   toml        TOML 1.0 (toml++)
//   properties  Java's .properties grammar: \uXXXX escapes checked, a key given twice refused
//   text        anything
// Every format must be UTF-8 (configs travel as JSON strings); the error names the line and
// byte of the first ill-formed sequence.
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "config/model.h"
#include "core/error.h"

namespace berth::config {

// OK when `content` is well-formed `format`; `source` names it in errors ("shop/app.yaml").
Result<void> ValidateContent(Format format, std::string_view content, std::string_view source);

// The offset of the first byte that is not part of well-formed UTF-8; npos when all is.
size_t FirstInvalidUtf8(std::string_view text);

}  // namespace berth::config
