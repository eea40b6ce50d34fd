// Where the gateway's routes and endpoints come from. A source delivers immutable Snapshots
// (routes + clusters with their endpoints); the Gateway hands each one to every worker.
// Implementations: StaticFileSource (routes.yaml, re-read on Reload/SIGHUP), ManualSource
// (tests and embedding: Set() a snapshot), and RegistryEndpointSource (registry_source.h:
// routes from the store, endpoints of `service:` targets from the registry).
// Thread-safety: `on_update` may be called from any thread, never concurrently with itself.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/error.h"
#include "gateway/router/route.h"

namespace berth::gateway {

class EndpointSource {
 public:
  using UpdateCallback = std::function<void(router::SnapshotPtr)>;
  virtual ~EndpointSource() = default;
  // Starts delivering snapshots to `on_update`. A source that has one delivers the first
  // before returning; an error means the initial configuration is unusable.
  virtual Result<void> Start(UpdateCallback on_update) = 0;
  // Stops delivering; `on_update` is not called after Stop returns.
  virtual void Stop() = 0;
  // Re-reads the configuration (SIGHUP). On error the previous snapshot stays in force.
  virtual Result<void> Reload() { return {}; }
  // The source's own metrics as Prometheus text (appended to the gateway's); any thread.
  virtual std::string RenderMetrics() const { return ""; }
};

// Routes and static endpoints from a routes.yaml file.
class StaticFileSource final : public EndpointSource {
 public:
  explicit StaticFileSource(std::string path) : path_(std::move(path)) {}
  Result<void> Start(UpdateCallback on_update) override;
  void Stop() override;
  Result<void> Reload() override;

 private:
  std::string path_;
  std::mutex mu_;
  UpdateCallback on_update_;  // guarded by mu_
  uint64_t version_ = 0;      // guarded by mu_
};

// A source fed by hand: tests, and embedders that build snapshots themselves.
class ManualSource final : public EndpointSource {
 public:
  explicit ManualSource(router::SnapshotPtr initial = nullptr) : current_(std::move(initial)) {}
  Result<void> Start(UpdateCallback on_update) override;
  void Stop() override;
  // Publishes `snapshot` to the gateway.
  void Set(router::SnapshotPtr snapshot);

 private:
  std::mutex mu_;
  UpdateCallback on_update_;     // guarded by mu_
  router::SnapshotPtr current_;  // guarded by mu_
};

}  // namespace berth::gateway
