// Fuzzes the JSON body handling every API endpoint runs: strict parse (limits, duplicate keys,
// depth), unknown-field rejection, and the wire dump (which must never throw on bytes that
// are not UTF-8).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/router.h"
#include "core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = berth::ParseJson(text, {.max_bytes = 1 << 20, .max_depth = 64});
  if (!j) {
    if (j.error().message.empty()) __builtin_trap();  // every error must say what is wrong
    return 0;
  }
  if (j->is_object()) {
    (void)berth::RejectUnknownFields(*j, {"value", "lease", "prev_revision"}, "fuzz body");
  }
  std::string out = berth::api::DumpJson(*j);
  // What we dump must parse back to the same value.
  auto again = berth::ParseJson(out, {.max_bytes = 1 << 22, .max_depth = 64});
  if (!again) __builtin_trap();
  return 0;
}
