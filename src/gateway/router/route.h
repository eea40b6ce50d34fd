// The routing model as immutable values: routes (match + action), clusters (a named set of
// endpoints with its balancing and protection settings) and the Snapshot that holds both.
// A Snapshot is built once (from routes.yaml, or from the store and the registry's watch), never
// changed, and shared by every worker through std::shared_ptr<const Snapshot>.
// Thread-safety: immutable after construction; share freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/filters/filter.h"
#include "gateway/lb/load_balancer.h"
#include "gateway/lb/outlier_detector.h"

namespace re2 {
class RE2;
}

namespace berth::gateway::router {

struct Endpoint {
  std::string address;  // "host:port" (IPv4 literal or name resolved at config time)
  uint32_t weight = 1;
  bool healthy = true;  // active health from the registry
};

// How the gateway talks to a cluster's endpoints: HTTP/1.1, HTTP/2 over TLS (ALPN "h2"), or
// HTTP/2 in clear text with prior knowledge ("h2c", what gRPC servers speak).
enum class UpstreamProtocol { kHttp1, kH2, kH2c };

// TLS to the endpoints of an `h2` cluster: verified against `ca_file` (the system's CAs when
// empty) for `server_name` (the endpoint's address when empty).
struct UpstreamTls {
  std::string ca_file;
  std::string server_name;
};

struct CircuitBreakers {
  uint32_t max_connections = 1024;       // open upstream connections per worker
  uint32_t max_pending_requests = 1024;  // waiting for a connection per worker
  uint32_t max_requests = 1024;          // in flight per worker
};

// Where a route sends requests: a named set of endpoints and how to use them.
struct Cluster {
  std::string name;
  // For a registry service (`service:` targets, `services:` entries): where its endpoints
  // come from when a registry source fills them. Empty for inline `upstreams:`.
  std::string service_namespace;
  std::string service_name;
  // A registry service's cluster may select part of its instances: only those carrying
  // every tag in `service_tags` (e.g. "deploy=<hash>", one version of an app's service), and
  // reach them on `service_port` instead of their registered port (0: the registered one).
  std::vector<std::string> service_tags;  // sorted, unique
  uint32_t service_port = 0;
  std::vector<Endpoint> endpoints;
  lb::Policy policy = lb::Policy::kRoundRobin;
  lb::OutlierConfig outlier;
  double panic_threshold_percent = 50.0;
  CircuitBreakers circuit_breakers;
  std::chrono::milliseconds connect_timeout{2000};
  uint32_t max_idle_connections = 256;  // kept per worker per host
  UpstreamProtocol protocol = UpstreamProtocol::kHttp1;
  UpstreamTls tls;  // for kH2
};

struct HeaderMatcher {
  std::string name;
  enum class Kind { kPresent, kExact, kRegex } kind = Kind::kPresent;
  std::string value;                      // kExact
  std::shared_ptr<const re2::RE2> regex;  // kRegex, full match
  bool invert = false;
};

struct PathMatcher {
  enum class Kind { kPrefix, kExact, kRegex } kind = Kind::kPrefix;
  std::string value;                      // prefix or exact path
  std::shared_ptr<const re2::RE2> regex;  // kRegex, full match on the path
};

// Where the hash for ring_hash/maglev comes from.
struct HashPolicy {
  enum class Kind { kNone, kHeader, kCookie, kClientIp } kind = Kind::kNone;
  std::string name;  // header or cookie name
};

struct RetryPolicy {
  uint32_t attempts = 0;  // retries after the first try; 0 disables
  bool on_connect_failure = true;
  std::vector<int> on_statuses;        // e.g. 502, 503, 504
  std::vector<int> on_grpc_statuses;   // gRPC codes of trailers-only answers (14 unavailable)
  double budget_percent = 20.0;        // retries at most this share of active requests...
  uint32_t min_retry_concurrency = 3;  // ...but always allow this many at once
};

struct Timeouts {
  std::chrono::milliseconds request{15'000};  // whole upstream exchange (0: none)
  std::chrono::milliseconds idle{60'000};     // no bytes in either direction
};

// Upgraded connections (WebSocket) on a route: at most `max_connections` at once per worker
// (0: no limit), closed after `idle` without a byte either way (0: the route's idle timeout).
struct WebSocketPolicy {
  uint32_t max_connections = 0;
  std::chrono::milliseconds idle{0};
};

struct WeightedCluster {
  std::string cluster;
  uint32_t weight = 1;
};

struct Route {
  std::string name;
  std::vector<std::string> hosts;  // "api.example.com", "*.example.com", "*"
  PathMatcher path;
  std::vector<std::string> methods;  // empty: any
  std::vector<HeaderMatcher> headers;
  std::optional<std::string> prefix_rewrite;  // replaces the matched prefix
  std::vector<WeightedCluster> targets;       // weighted split; at least one
  uint32_t total_weight = 0;
  HashPolicy hash;
  RetryPolicy retry;
  Timeouts timeouts;
  std::vector<filters::FilterFactoryPtr> filters;  // in order
  // Overrides the target clusters' own protocol for this route's requests.
  std::optional<UpstreamProtocol> upstream_protocol;
  WebSocketPolicy websocket;
};

// The protocol `route`'s requests use to reach `cluster`.
inline UpstreamProtocol EffectiveProtocol(const Route& route, const Cluster& cluster) {
  return route.upstream_protocol.value_or(cluster.protocol);
}

struct ListenerTls {
  std::string cert_file;
  std::string key_file;
  struct Sni {
    std::vector<std::string> names;
    std::string cert_file;
    std::string key_file;
  };
  std::vector<Sni> sni;
};

struct Snapshot {
  uint64_t version = 0;
  std::vector<std::shared_ptr<const Route>> routes;  // in match order
  std::map<std::string, std::shared_ptr<const Cluster>> clusters;
  std::optional<ListenerTls> tls;
  std::string access_log_path;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace berth::gateway::router
