// What berthd starts beside the API, by role, and the endpoints each piece adds. berthd.cc
// stays flags and order only; this file is the one place that knows every component.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/router.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/metrics/metrics.h"
#include "logs/log_center.h"
#include "security/audit.h"
#include "security/tokens.h"
#include "store/store.h"

namespace berth {

struct ComponentFlags {
  std::string dns = "127.0.0.1:8600";          // registry DNS; "none": off
  std::string gateway = "127.0.0.1:8080";      // the gateway listener (dev, server); "none": off
  std::string gateway_config;                  // static routes.yaml; empty: routes from the store
  int gateway_workers = 0;                     // 0: one per core
  std::string runtime = "runc";                // runc | crun
  std::string subnet = "100.64.0.0/16";        // container network
  std::string bridge = "berth0";               // the container network's Linux bridge
  bool agent = true;                           // dev: run the node agent (needs root)
  std::string api_address = "127.0.0.1:7700";  // dev: where the local node agent joins
  bool api_tls = false;                        // the API serves HTTPS
  std::string node_grace = "30s";              // a lost node's instances move after this
  // TTL of the leases that elect the controller, the health checker and the compactor among
  // servers: a dead leader is replaced within about this long.
  std::string leader_ttl = "10s";
  bool controller = true;  // run the orchestrator's controller
  // Secrets' master key: this file (64 hex digits) instead of <data-dir>/secrets/master.keys;
  // BERTH_SECRETS_KEY in the environment comes first.
  std::string secrets_key_file;
  // Automatic compaction of the store's history (store/compactor.h; etcd-style flags).
  std::string compaction_mode = "periodic";  // periodic | revision | off
  std::string compaction_retention = "5m";   // periodic: duration; revision: count; 0: off
  // The log center (logs/log_center.h): on unless "--no-logs".
  bool logs = true;
  logs::LogCenterFlags log_center;
};

struct Wiring {
  store::Store& store;
  Clock& clock;
  security::TokenService& tokens;
  security::AuditLog& audit;
  metrics::Registry& metrics;
  std::string data_dir;
  std::string role;  // "dev" or "server"
  ComponentFlags flags;
};

// Owns whatever StartComponents started; destroying it stops them in reverse order.
class Components {
 public:
  virtual ~Components() = default;
  // Prometheus text of the components that keep their own counters.
  virtual std::string RenderMetrics() const = 0;
  // One line per listener for the start-up banner ("gateway http://127.0.0.1:8080").
  virtual std::vector<std::string> Banner() const = 0;
};

// Starts the components of `wiring.role` and adds their endpoints to `router`.
Result<std::unique_ptr<Components>> StartComponents(Wiring& wiring, api::Router& router);

// `berthd gateway`: the data plane alone. Routes from the store's /gateway/ keys and
// endpoints from the registry (`store` non-null), or from a static routes.yaml.
struct GatewayRoleFlags {
  std::string listen = "127.0.0.1:8080";
  std::string admin = "127.0.0.1:9901";  // GET /metrics and /ready; "none": off
  int workers = 0;                       // 0: one per core
  std::string config;                    // static routes.yaml instead of the store
  std::string access_log;
};

class GatewayRole {
 public:
  virtual ~GatewayRole() = default;
  virtual Result<void> Reload() = 0;                           // SIGHUP
  virtual void Drain(std::chrono::milliseconds deadline) = 0;  // SIGTERM
  virtual std::vector<std::string> Banner() const = 0;
};

// `store` may be null only with a static config; `data_dir` resolves relative file paths of
// stored routes.
Result<std::unique_ptr<GatewayRole>> StartGatewayRole(store::Store* store, Clock& clock,
                                                      const std::string& data_dir,
                                                      const GatewayRoleFlags& flags);

}  // namespace berth
