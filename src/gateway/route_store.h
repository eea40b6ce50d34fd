// Gateway routes and per-service gateway settings kept in the Store (contract 3 of the
// session):
//
//   /gateway/routes/<name>            one entry of routes.yaml's `routes:` list, as JSON, with
//                                     its "name" and an optional "owner" ("app:<ns>/<app>")
//   /gateway/services/<ns>/<service>  one entry of `services:` (lb, outlier, circuit_breakers,
//                                     ...), as JSON; no endpoints: they come from the registry
//
// RouteStore checks every entry with the gateway's own strict parser (router/config.h) before
// anything is written, so what the store holds always parses. An apply is one transaction:
// one bad entry and nothing is stored. A route with an owner is changed or removed only by a
// writer with the same owner, unless forced (so `berth route rm` does not fight the
// orchestrator by accident).
//
// Called by the /v1/routes endpoints (api/route_endpoints.cc) and by the orchestrator for the
// routes of exposed services; RegistryEndpointSource reads the same keys.
// Thread-safety: no state beyond the Store; every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "gateway/route_spec.h"  // the key prefixes, the route form other components write
#include "store/store.h"

namespace berth::gateway {

// At most this many entries are written by one apply (etcd's default --max-txn-ops).
inline constexpr size_t kMaxApplyEntries = 128;

// Route names: 1..253 bytes of [A-Za-z0-9._-], not starting with '.' or '-'.
Result<void> ValidateRouteName(std::string_view name);
std::string RouteKey(std::string_view name);
std::string ServiceSettingsKey(std::string_view ns, std::string_view service);

struct StoredRoute {
  std::string name;
  std::string owner;  // "" when none
  std::string json;   // the stored entry (compact JSON, keys sorted), name included
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

struct StoredServiceSettings {
  std::string ns;
  std::string service;
  std::string json;  // the stored settings (compact JSON, keys sorted)
  int64_t mod_revision = 0;
};

struct ApplyResult {
  struct Item {
    std::string kind;    // "route" or "service"
    std::string name;    // route name, or "<ns>/<service>"
    std::string action;  // "created", "configured" or "unchanged"
  };
  std::vector<Item> items;  // routes in document order, then services
  int64_t revision = 0;     // store revision after the apply (unchanged: the current one)
};

struct PutResult {
  StoredRoute route;
  bool created = false;
  bool changed = false;
};

// A route entry checked as the gateway will read it; returns its canonical stored form.
// `body` is a JSON (or YAML) mapping; its "name", when present, must equal `name`.
// `base_dir` resolves relative file paths of filters (JWKS, key files).
Result<StoredRoute> CanonicalRoute(std::string_view name, std::string_view body,
                                   std::string_view base_dir = ".");
// The same for one service's settings.
Result<StoredServiceSettings> CanonicalServiceSettings(std::string_view ns,
                                                       std::string_view service,
                                                       std::string_view body);

// Which namespaces a stored route acts in (for per-namespace permissions): those of its
// `service:` targets (namespace "default" when a target names none). `cluster` when the route
// also reaches raw addresses (`upstreams:`), reads files on the gateway's host (a filter's
// `*_file`), or targets no service: only a global role may set or see such a route.
struct RouteScope {
  std::vector<std::string> namespaces;  // sorted, unique
  bool cluster = false;
};
// The scope of a stored (canonical) route entry; a route that does not parse is cluster.
RouteScope ScopeOfRoute(std::string_view json);

// Asked inside a write's compare-and-swap, before anything is written, once for the scope of
// every entry the write stores and once for what each one replaces or deletes (a service
// settings entry's scope is its namespace): an error refuses the whole write with it.
using ScopeGuard = std::function<Result<void>(const RouteScope& scope)>;

class RouteStore {
 public:
  explicit RouteStore(store::Store& store, std::string base_dir = ".")
      : store_(store), base_dir_(std::move(base_dir)) {}

  // Every stored route, by name; `revision` (optional) gets the store revision read at.
  Result<std::vector<StoredRoute>> List(int64_t* revision = nullptr);
  Result<StoredRoute> Get(std::string_view name);
  // Creates or replaces route `name` with `body`. kFailedPrecondition when the stored route
  // has another owner and `force` is false.
  Result<PutResult> Put(std::string_view name, std::string_view body, bool force = false,
                        const ScopeGuard& guard = nullptr);
  // Removes route `name`; kNotFound when absent; kFailedPrecondition when it has an owner and
  // `force` is false. Returns the store revision after.
  Result<int64_t> Delete(std::string_view name, bool force = false,
                         const ScopeGuard& guard = nullptr);
  // Applies a routes.yaml (or JSON) document: every route (each needs a name) and every
  // `services:` entry ("svc" or "ns/svc"), all checked first, then written in one
  // transaction. Routes not in the document stay. `dry_run` checks and reports only.
  Result<ApplyResult> Apply(std::string_view text, bool dry_run = false, bool force = false,
                            const ScopeGuard& guard = nullptr);

  Result<std::vector<StoredServiceSettings>> ListServices(int64_t* revision = nullptr);
  Result<StoredServiceSettings> GetService(std::string_view ns, std::string_view service);
  Result<StoredServiceSettings> PutService(std::string_view ns, std::string_view service,
                                           std::string_view body);
  Result<int64_t> DeleteService(std::string_view ns, std::string_view service);

 private:
  store::Store& store_;
  std::string base_dir_;
};

}  // namespace berth::gateway
