// The gateway's route endpoints (route_endpoints.cc), over gateway::RouteStore:
//   GET    /v1/routes                               every stored route
//   GET    /v1/routes/{name}                        one route
//   PUT    /v1/routes/{name}[?force]                create or replace (body: one route entry, JSON)
//   DELETE /v1/routes/{name}[?force]                remove
//   POST   /v1/routes:apply[?dry_run][&force]       a routes.yaml (or JSON) document, all or
//   nothing GET    /v1/gateway/services                     per-service gateway settings
//   GET|PUT|DELETE /v1/gateway/services/{ns}/{service}
// Writes need the operator role and are audited. `force` overrides a route's owner.
#pragma once

#include "api/router.h"
#include "gateway/route_store.h"

namespace berth::api {

void RegisterRouteEndpoints(Router& router, gateway::RouteStore& routes);

}  // namespace berth::api
