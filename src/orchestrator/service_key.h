// ServiceKey: the "ns/app/svc" string the controller's duties key their per-service state by
// (rollouts, canaries, unplaceable reasons, autoscalers), and its parts back.
// Thread-safety: pure functions.
#pragma once

#include <fmt/core.h>

#include <optional>
#include <string>
#include <string_view>

namespace berth::orchestrator {

struct ServiceKeyParts {
  std::string ns, app, svc;
};

inline std::string ServiceKey(std::string_view ns, std::string_view app, std::string_view svc) {
  return fmt::format("{}/{}/{}", ns, app, svc);
}

// nullopt for a key without two slashes.
inline std::optional<ServiceKeyParts> SplitServiceKey(std::string_view key) {
  auto a = key.find('/');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = key.find('/', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  return ServiceKeyParts{std::string(key.substr(0, a)), std::string(key.substr(a + 1, b - a - 1)),
                         std::string(key.substr(b + 1))};
}

}  // namespace berth::orchestrator
