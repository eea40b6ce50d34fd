// The gateway's stored route entries as other components write and read them: the store keys
// (/gateway/routes/<name>, /gateway/services/<ns>/<service>; route_store.h says who writes
// them and how) and the route form a component builds for traffic to registry services (the
// orchestrator, for a service's `expose`). The gateway owns the format: its strict parser
// (router/config.h, ParseRouteEntry) reads what EncodeServiceRoute writes.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::gateway {

inline constexpr std::string_view kGatewayKeyPrefix = "/gateway/";
inline constexpr std::string_view kRoutesKeyPrefix = "/gateway/routes/";
inline constexpr std::string_view kServicesKeyPrefix = "/gateway/services/";

// One target of a route: a registry service, or the part of it that carries `tags`.
struct ServiceTarget {
  std::string service;
  std::string ns = "default";
  uint32_t port = 0;               // 0: the port each instance registered
  std::vector<std::string> tags;   // only instances with every one of these tags
  std::optional<uint32_t> weight;  // share among the route's targets (the gateway's default: 1)
};

// A route matched by host and path prefix to registry services: the subset of the route
// entry schema (src/gateway/README.md) that components write for one another's traffic.
struct ServiceRoute {
  std::string name;
  std::string owner;               // "app:<ns>/<app>": writers with another owner leave it be
  std::vector<std::string> hosts;  // empty: any host
  std::string path_prefix = "/";
  std::vector<ServiceTarget> targets;
};

// The entry as the store keeps it under RouteKey(route.name): compact JSON, keys sorted.
std::string EncodeServiceRoute(const ServiceRoute& route);
// The "owner" of a stored route entry; "" when it has none or is not a JSON object.
std::string RouteOwner(std::string_view stored_json);

}  // namespace berth::gateway
