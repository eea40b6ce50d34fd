// What berthd starts beside the API, by role, and the endpoints each piece adds. berthd.cc
// stays flags and order only; this file is the one place that knows every component.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/router.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/metrics/metrics.h"
#include "security/audit.h"
#include "security/tokens.h"
#include "store/store.h"

namespace berth {

struct ComponentFlags {
  std::string dns = "127.0.0.1:8600";      // registry DNS; "none": off
  std::string gateway = "127.0.0.1:8080";  // dev: the gateway listener; "none": off
  std::string gateway_config;              // routes.yaml for the gateway (static routes)
  int gateway_workers = 0;                 // 0: one per core
  std::string runtime = "runc";            // runc | crun
  std::string subnet = "100.64.0.0/16";    // container network
  std::string bridge = "berth0";           // the container network's Linux bridge
  bool agent = true;                       // dev: run the node agent (needs root)
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

}  // namespace berth
