// Fuzzes the gateway's route configuration parser (routes.yaml as YAML or JSON) and, when a
// configuration parses, builds its route table and matches a request derived from the input.
// Files named in the input (JWKS, keys) resolve under a directory that does not exist, so the
// fuzzer never reads the filesystem.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/router/config.h"
#include "gateway/router/route_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (size > 64 * 1024) return 0;
  auto snap = berth::gateway::router::ParseConfig(text, "fuzz", "/nonexistent-fuzz-dir");
  if (!snap) {
    if (snap.error().message.empty()) __builtin_trap();  // errors always say what
    return 0;
  }
  berth::gateway::router::RouteTable table(*snap);
  std::string_view path = size > 8 ? text.substr(size - 8) : std::string_view("/");
  berth::gateway::router::MatchInput in{"api.example.com", "GET", path, [&](std::string_view) {
                                          return std::optional(text.substr(0, size / 2));
                                        }};
  if (const auto* r = table.Match(in)) {
    (void)berth::gateway::router::RouteTable::RewritePath(*r, path);
  }
  return 0;
}
