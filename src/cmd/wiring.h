// What berthd starts beside the API, by role. Each component that lands adds its construction
// here (and its endpoints to the router); berthd.cc stays flags and order only.
#pragma once

#include <memory>
#include <string>

#include "api/router.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/metrics/metrics.h"
#include "security/audit.h"
#include "security/tokens.h"
#include "store/store.h"

namespace berth {

struct Wiring {
  store::Store& store;
  Clock& clock;
  security::TokenService& tokens;
  security::AuditLog& audit;
  metrics::Registry& metrics;
  std::string data_dir;
  std::string role;  // "dev" or "server"
};

// Owns whatever StartComponents started; destroying it stops them in reverse order.
class Components {
 public:
  virtual ~Components() = default;
};

// Starts the components of `wiring.role` and adds their endpoints to `router`.
Result<std::unique_ptr<Components>> StartComponents(Wiring& wiring, api::Router& router);

}  // namespace berth
