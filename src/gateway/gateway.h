// The Berth API gateway as a library: `berthd gateway`, `berthd dev` and the standalone
// `berth-gateway` binary construct a Gateway with options and an EndpointSource, Start it,
// and on signals call Reload (SIGHUP) or Drain (SIGTERM).
//
// Shape (Envoy's): N workers, each an event loop owning its listener (SO_REUSEPORT), its
// connections and upstream pools; the source's snapshots are turned into an immutable
// RouteTable once, on the source's thread, and posted to every worker, which swaps it in
// between events. See src/gateway/README.md.
// Thread-safety: Start/Drain/Stop from one thread; RenderMetrics, Reload and snapshot
// updates from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "gateway/endpoint_source.h"
#include "gateway/router/route_table.h"

namespace berth::gateway {

namespace server {
class Worker;
}

struct GatewayOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  // More host:port listeners, bound with IP_FREEBIND (the address may appear later, as a
  // container bridge does); port 0 takes the main listener's port.
  std::vector<std::string> extra_listen;
  int workers = 0;                           // 0: one per core
  std::string config_path;                   // routes.yaml, used when `source` is null
  std::shared_ptr<EndpointSource> source;    // where snapshots come from
  std::string admin_listen;                  // "host:port" for GET /metrics and /ready; empty: none
  std::string access_log_path;               // overrides the config's access_log
  size_t max_request_line_bytes = 8 * 1024;  // 414 beyond
  size_t max_header_bytes = 64 * 1024;       // 431 beyond
  size_t max_headers = 100;                  // 431 beyond
  uint64_t max_body_bytes = 0;               // 413 beyond; 0: unlimited (streamed)
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds header_timeout{10'000};
  // HTTP/2 from clients: prior knowledge on clear-text listeners, ALPN "h2" with TLS.
  bool http2 = true;
};

class Gateway {
 public:
  // Validates options; binds nothing yet.
  static Result<std::unique_ptr<Gateway>> Create(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the listeners, starts the workers and the source (which delivers the first
  // snapshot before Start returns when it has one). Fails on a bad first configuration.
  Result<void> Start();
  // Re-reads the source's configuration (SIGHUP); the old one stays on error.
  Result<void> Reload();
  // Stops accepting, closes idle connections, waits up to `deadline` for in-flight requests,
  // then stops (SIGTERM).
  void Drain(std::chrono::milliseconds deadline);
  // Closes everything now. Idempotent.
  void Stop();

  uint16_t port() const { return port_; }
  uint16_t admin_port() const { return admin_port_; }
  std::string address() const;
  // Prometheus text over all workers.
  std::string RenderMetrics() const;
  // Requests routed to each registry service of the routes in force since start, summed
  // over the workers and the service's clusters, by "<namespace>/<service>" (requests sent
  // upstream plus those refused by an open circuit breaker: the demand). Reads the workers'
  // counters; nothing on the request path.
  std::map<std::string, uint64_t> ServiceRequestTotals() const;
  // Version of the snapshot in force (0 before the first).
  uint64_t snapshot_version() const;
  // Applies a snapshot (what the source's callback does).
  void Apply(router::SnapshotPtr snapshot);

 private:
  explicit Gateway(GatewayOptions options);

  GatewayOptions options_;
  SystemClock clock_;
  std::shared_ptr<EndpointSource> source_;
  std::vector<std::unique_ptr<server::Worker>> workers_;
  std::shared_ptr<void> tls_;  // TLS contexts (primary + SNI), shared with the workers
  std::atomic<std::shared_ptr<const router::RouteTable>> current_;
  std::mutex apply_mu_;  // serializes Apply (sources may call from their own threads)
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace berth::gateway
