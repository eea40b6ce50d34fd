// The service registry's REST endpoints (registry_endpoints.cc):
//   PUT    /v1/registry/{ns}/{service}/{instance}            register (idempotent)
//   PUT    /v1/registry/{ns}/{service}/{instance}/heartbeat  renew the TTL lease
//   PUT    /v1/registry/{ns}/{service}/{instance}/health     a node's exec check result
//                                                            (its node's token, or admin)
//   GET    /v1/nodes/{node}/checks[?watch=1&revision=R]      the exec checks a node runs
//   DELETE /v1/registry/{ns}/{service}/{instance}            deregister
//   GET    /v1/registry/{ns}/{service}/{instance}            one instance
//   GET    /v1/registry[?watch&revision=N]                    services of every namespace
//   GET    /v1/registry/{ns}[?watch&revision=N]               services of a namespace
//   GET    /v1/registry/{ns}/{service}[?tag=T...][&passing][&index=N&wait=30s][&watch&revision=N]
//   POST   /v1/registry:watch                                 many watches on one stream
// `?watch` streams JSON lines (one change each, in revision order, from `revision`);
// `index`/`wait` make a blocking query (Consul-style) answered when the service changes
// after revision `index` or when `wait` (default 30s, at most 10m) passes. `:watch` takes
// {"watches":[{"id","namespace","service"|"service_prefix","revision","filters"}]} and
// streams lines tagged {"watch_id":N,...} (docs/api.md, docs/decisions/0006).
#pragma once

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>

#include "api/router.h"
#include "registry/registry.h"

namespace berth::api {

// Exec health checks run commands inside the instance's container on every interval, so a
// registration with one needs the admin role (403 otherwise) and an agent that can run them:
// the node the instance names in metadata "berth.node" (node-local checks, reported through
// .../health), or one in this process (`exec_checks`); 400 otherwise.
struct RegistryEndpointOptions {
  bool exec_checks = false;
};

// `io` runs the blocking-query timers (the registry component's io_context); `blocking`
// runs the handlers that wait on the store, so HTTP workers never wait on a commit.
void RegisterRegistryEndpoints(Router& router, registry::Registry& registry, asio::io_context& io,
                               asio::thread_pool& blocking, RegistryEndpointOptions options = {});

}  // namespace berth::api
