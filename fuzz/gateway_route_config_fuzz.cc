// Fuzzes the gateway's route configuration parser (routes.yaml as YAML or JSON) and, when a
// configuration parses, builds its route table and matches a request derived from the input.
// The same bytes also go through the single-entry forms the route store uses (one route
// entry, one service's settings, a document split into entries): each must either fail with
// a message or agree with the whole-document parse.
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
  namespace router = berth::gateway::router;
  if (auto e = router::ParseRouteEntry(text, "fuzz", "/nonexistent-fuzz-dir"); !e) {
    if (e.error().message.empty()) __builtin_trap();
  } else if (!e->route || e->route->targets.empty()) {
    __builtin_trap();  // a parsed route always has a target
  }
  if (auto c = router::ParseServiceSettings(text, "ns/svc", "fuzz", false); !c) {
    if (c.error().message.empty()) __builtin_trap();
  } else if (!(*c)->endpoints.empty()) {
    __builtin_trap();  // endpoints were refused
  }
  auto split = router::SplitConfig(text, "fuzz", "/nonexistent-fuzz-dir");
  auto snap = berth::gateway::router::ParseConfig(text, "fuzz", "/nonexistent-fuzz-dir");
  if (split.has_value() != snap.has_value()) __builtin_trap();  // one parser, one verdict
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
