// The gateway's live EndpointSource: routes and per-service settings from the store
// (/gateway/routes/<name>, /gateway/services/<ns>/<service>, see route_store.h) and the
// endpoints of every `service:` target from the service registry (the passing instances of
// <ns>/<service> that carry the target's `tags`, on its `port` if it names one, weight =
// instance weight).
//
// It mirrors both in memory: one list then one watch on /gateway/ in the store, and one
// list then one Registry::Watch on every namespace. A watch callback only updates the
// mirror and wakes the builder thread, which waits `debounce` (a burst of changes makes one
// snapshot), builds an immutable Snapshot and hands it to the gateway. Routes are parsed
// once per stored revision (their filters, and so their rate-limit buckets, survive
// endpoint changes). A stored entry that does not parse (written around the API) is left
// out and logged; the rest still apply. Nothing here is on the request path.
//
// Route order: the store has no order, so within a host group routes are tried exact paths
// first, then regexes, then prefixes longest first; ties go to the route with more method
// and header conditions, then by name.
//
// Thread-safety: Start/Stop/Reload from one thread; stats() and RenderMetrics() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/endpoint_source.h"
#include "gateway/router/config.h"
#include "registry/registry.h"
#include "store/store.h"

namespace berth::gateway {

struct RegistrySourceOptions {
  // A change waits this long for more before a snapshot is built.
  std::chrono::milliseconds debounce{20};
  // How long to wait before listing again after the store failed.
  std::chrono::milliseconds retry{1000};
  // Relative file paths inside stored routes (JWKS, API key files) resolve against this.
  std::string base_dir = ".";
};

class RegistryEndpointSource final : public EndpointSource {
 public:
  RegistryEndpointSource(store::Store& store, registry::Registry& registry,
                         RegistrySourceOptions options = {});
  ~RegistryEndpointSource() override;
  RegistryEndpointSource(const RegistryEndpointSource&) = delete;
  RegistryEndpointSource& operator=(const RegistryEndpointSource&) = delete;

  // Lists, starts both watches, delivers the first snapshot, then starts the builder.
  // Fails when the store cannot be read.
  Result<void> Start(UpdateCallback on_update) override;
  void Stop() override;
  // Lists everything again (SIGHUP); the next snapshot follows shortly.
  Result<void> Reload() override;

  struct Stats {
    uint64_t snapshots = 0;       // snapshots delivered
    uint64_t routes = 0;          // routes in the last snapshot
    uint64_t invalid_routes = 0;  // stored entries left out of the last snapshot
    uint64_t endpoints = 0;       // registry endpoints in the last snapshot
    int64_t revision = 0;         // store revision the last snapshot reflects (at least)
  };
  Stats stats() const;
  // Prometheus text: berth_gateway_source_* gauges and counters.
  std::string RenderMetrics() const override;

 private:
  struct CachedRoute {
    int64_t mod_revision = 0;
    std::optional<router::RouteEntry> entry;  // nullopt: did not parse
  };
  struct CachedSettings {
    int64_t mod_revision = 0;
    std::shared_ptr<const router::Cluster> settings;  // null: did not parse
  };

  Result<void> ListGateway();
  Result<void> ListRegistry();
  void Run();
  void Build();
  void Deliver(router::SnapshotPtr snapshot);

  store::Store& store_;
  registry::Registry& registry_;
  RegistrySourceOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, store::KeyValue> gateway_;  // guarded by mu_: /gateway/ mirror
  // guarded by mu_: registry mirror, "<ns>/<service>" -> id -> instance.
  std::map<std::string, std::map<std::string, registry::Instance>> instances_;
  int64_t gateway_revision_ = 0;   // guarded by mu_
  int64_t registry_revision_ = 0;  // guarded by mu_
  bool dirty_ = false;             // guarded by mu_
  bool relist_gateway_ = false;    // guarded by mu_
  bool relist_registry_ = false;   // guarded by mu_
  bool stopping_ = false;          // guarded by mu_

  // Owned by the thread that lists (Start, then the builder).
  std::unique_ptr<store::Watcher> gateway_watch_;
  std::unique_ptr<registry::Subscription> registry_watch_;
  std::map<std::string, CachedRoute> route_cache_;        // builder only
  std::map<std::string, CachedSettings> settings_cache_;  // builder only
  uint64_t version_ = 0;                                  // builder only
  std::thread builder_;

  std::mutex deliver_mu_;
  UpdateCallback on_update_;  // guarded by deliver_mu_

  std::atomic<uint64_t> snapshots_{0};
  std::atomic<uint64_t> routes_{0};
  std::atomic<uint64_t> invalid_routes_{0};
  std::atomic<uint64_t> endpoints_{0};
  std::atomic<int64_t> revision_{0};
};

}  // namespace berth::gateway
