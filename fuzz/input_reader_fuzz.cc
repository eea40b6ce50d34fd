// Fuzzes the strict reader (src/core/input.h): YAML and JSON into a Document, paths and
// errors of every node, and the JSON side against nlohmann's own strict parse (the same
// value when both accept; no one-sided acceptance except by the depth and size limits).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/input.h"
#include "core/json.h"

namespace {

void Walk(const berth::input::Node& n, int depth) {
  if (depth > 200) __builtin_trap();
  if (n.Invalid("x").message.empty()) __builtin_trap();
  (void)berth::input::Int(0, 10)(n);
  (void)berth::input::Duration{}(n);
  (void)berth::input::Bytes{}(n);
  (void)berth::input::Cpu{}(n);
  (void)berth::input::Bool(n);
  for (const auto* item : n.items()) Walk(*item, depth + 1);
  for (const auto& e : n.entries()) Walk(*e.value, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const berth::input::Limits limits{.max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 100'000};
  for (auto parse : {&berth::input::ParseYaml, &berth::input::ParseJson}) {
    auto doc = parse(text, "fuzz", limits);
    if (!doc) {
      if (doc.error().message.empty()) __builtin_trap();  // every error says what is wrong
      continue;
    }
    Walk(doc->root(), 0);
    (void)berth::input::ToJson(doc->root());
  }
  auto mine = berth::input::ParseJson(text, "fuzz", limits);
  auto theirs = berth::ParseJson(text, {.max_bytes = 1 << 20, .max_depth = 64});
  if (mine && theirs && berth::input::ToJson(mine->root()) != *theirs) __builtin_trap();
  if (mine.has_value() != theirs.has_value()) {
    const std::string& why = mine ? theirs.error().message : mine.error().message;
    if (why.find("nesting") == std::string::npos && why.find("values") == std::string::npos) {
      __builtin_trap();
    }
  }
  return 0;
}
