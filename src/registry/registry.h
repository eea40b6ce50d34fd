// The service registry over the store: register/deregister/heartbeat instances, query
// services, watch changes and run the periodic sweep (self-preservation, deregister_after).
//
// Every state lives in the store under /registry/<ns>/<service>/<id> (see model.h); the
// Registry keeps no state of its own that cannot be rebuilt from there, except the watch
// hub: one store watch on /registry/ whose events fan out in-process to any number of
// registry watchers (10k watchers cost 10k small records, not 10k store watches). A watcher
// asking for a revision older than the hub's in-memory history gets its own store watch, so
// no event is lost either way.
//
// Called by the REST endpoints, the health checker, the DNS server and the orchestrator.
// Thread-safety: every method may be called from any thread. Watch callbacks run on the
// store's watch thread, one watcher's callbacks never concurrently; they must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "registry/model.h"
#include "store/store.h"

namespace berth::registry {

struct RegistryOptions {
  // Self-preservation: when more than this share of a service's TTL instances would expire
  // within `self_preservation_window`, they are kept (lease renewed) and marked warning.
  double self_preservation_share = 0.5;
  // ...only for services with at least this many TTL instances (one lone instance that
  // stops heartbeating is simply dead).
  int self_preservation_min_instances = 3;
  std::chrono::milliseconds self_preservation_window{1000};
  // A preserved instance is let go after this long without a heartbeat (0: never).
  std::chrono::milliseconds self_preservation_max{5 * 60 * 1000};
  // Events kept in memory by the watch hub for watchers that start in the recent past.
  size_t watch_history = 16384;
};

// Counters for /metrics; monotonic.
struct RegistryStats {
  std::atomic<int64_t> registrations{0};
  std::atomic<int64_t> deregistrations{0};
  std::atomic<int64_t> heartbeats{0};
  std::atomic<int64_t> health_transitions{0};
  std::atomic<int64_t> self_preservation_activations{0};  // sweeps that preserved a service
  std::atomic<int64_t> self_preserved_instances{0};       // instance-sweeps kept alive
  std::atomic<int64_t> deregistered_critical{0};          // removed by deregister_after
  std::atomic<int64_t> watchers{0};                       // live watchers (gauge)
};

struct InstanceFilter {
  std::vector<std::string> tags;  // every tag must be present
  bool passing_only = false;      // only health == passing
};

struct ServiceView {
  std::string ns;
  std::string service;
  std::vector<Instance> instances;  // sorted by id
  int64_t index = 0;                // store revision the view was read at (for ?index=)
};

struct ServiceSummary {
  std::string ns;
  std::string service;
  int instances = 0;
  int passing = 0;
  std::vector<std::string> tags;  // union, sorted
};

struct ServiceList {
  std::vector<ServiceSummary> services;  // sorted by ns, service
  int64_t index = 0;
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  int64_t revision = 0;
  std::string ns, service, id;
  std::shared_ptr<const Instance> instance;  // for kPut (shared by every watcher)
  // The event as one JSON line (no newline), rendered once for every watcher:
  // {"type","revision","namespace","service","id"[,"instance"]}.
  std::shared_ptr<const std::string> json;
};

struct WatchBatch {
  std::vector<WatchEvent> events;  // in revision order
  int64_t revision = 0;            // store revision at delivery
  bool compacted = false;          // start revision was compacted away; the watch is over
  int64_t compact_revision = 0;
  bool canceled = false;  // the store ended the watch; resume from last revision + 1
  std::string cancel_reason;
};

using WatchHandler = std::function<void(WatchBatch&& batch)>;

// A live registry watch; destroying it (or Cancel) stops the callbacks; after Cancel
// returns no callback is running or will run.
class Subscription {
 public:
  virtual ~Subscription() = default;
  virtual void Cancel() = 0;
};

// One watch of a multiplexed watch (Registry::WatchMany): what it covers, where it starts,
// which events it wants. `id` is the caller's name for it, unique within one WatchMany.
struct WatchSpec {
  int64_t id = 0;
  std::string ns;              // "" : every namespace
  std::string service;         // "" : the whole namespace (needs `ns`)
  std::string service_prefix;  // with `service` empty: services whose name starts with it
  int64_t from_revision = 0;   // 0: from now
  bool no_put = false;         // drop puts (etcd's NOPUT filter)
  bool no_delete = false;      // drop deletes (etcd's NODELETE filter)
};

// One delivery to a multiplexed watch. Only one of the parts is set per delivery.
struct MultiWatchBatch {
  // The first delivery, once: per watch (index into the specs) the first revision it can
  // deliver (its from_revision, or the revision after the current one for 0).
  std::vector<int64_t> created;
  // Events as (watch index, event): per watch in revision order, never lost or repeated;
  // one event shared by every watch that wants it.
  std::vector<std::pair<uint32_t, std::shared_ptr<const WatchEvent>>> events;
  // Watches that are over (their start revision was compacted, or the store ended them).
  struct Ended {
    uint32_t watch = 0;
    bool compacted = false;
    int64_t compact_revision = 0;
    std::string reason;
  };
  std::vector<Ended> ended;
  // > 0 on a progress delivery: every watch has been given every event <= this revision.
  int64_t progress_revision = 0;
};

using MultiWatchHandler = std::function<void(MultiWatchBatch&& batch)>;

// A live multiplexed watch. Cancel (or destruction) stops every callback; after it returns
// none is running or will run. Progress() delivers a progress batch now (in order with the
// events) unless the watch is over.
class MultiSubscription {
 public:
  virtual ~MultiSubscription() = default;
  virtual void Cancel() = 0;
  virtual void Progress() = 0;
};

class WatchHub;

class Registry {
 public:
  Registry(store::Store& store, Clock& clock, RegistryOptions options = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers (or updates) `instance`; idempotent: the same registration again changes
  // nothing in the store and returns the stored instance. A TTL attaches a lease (reused
  // and renewed when the instance already has a live one). Health is kept across an
  // update unless the check changed. Returns the stored instance with its revision.
  //
  // `precondition`, when set, is asked about the stored instance (nullptr when there is
  // none) inside the compare-and-swap loop of Register, RegisterAsync, Deregister and
  // Heartbeat; its error is returned and nothing is written (a node token touching another
  // node's instance).
  using WritePrecondition = std::function<Result<void>(const Instance* stored)>;
  Result<Instance> Register(const Instance& instance,
                            const WritePrecondition& precondition = nullptr);
  // Register without waiting where it can: a registration that needs no lease work (no TTL,
  // and no older registration's lease to revoke) on a store that writes asynchronously is
  // written with store::AsyncTxnStore::TxnAsync; `done` runs on the store's writer thread.
  // Anything else runs Register through `run_blocking` (which must run its function on a
  // thread that may wait). `done` runs exactly once and must not block.
  using RunBlocking = std::function<void(std::function<void()>)>;
  void RegisterAsync(Instance instance, RunBlocking run_blocking,
                     std::function<void(Result<Instance>)> done,
                     WritePrecondition precondition = nullptr);
  // Removes an instance; kNotFound when absent. Returns the store revision after.
  Result<int64_t> Deregister(std::string_view ns, std::string_view service, std::string_view id,
                             const WritePrecondition& precondition = nullptr);
  // Renews the instance's lease; kNotFound when the instance (or lease) is gone,
  // kFailedPrecondition when it has no TTL. Ends self-preservation for it.
  Result<Instance> Heartbeat(std::string_view ns, std::string_view service, std::string_view id,
                             const WritePrecondition& precondition = nullptr);

  Result<Instance> GetInstance(std::string_view ns, std::string_view service, std::string_view id);
  // Every instance under `ns` ("" : every namespace) and the revision read at; for
  // components that mirror the registry (health checker, DNS) before they watch from
  // index + 1.
  Result<ServiceView> ListInstances(std::string_view ns);
  // Services of `ns` ("" or "*": every namespace).
  Result<ServiceList> ListServices(std::string_view ns);
  // A service's instances matching `filter`; kNotFound when it has no instance at all.
  Result<ServiceView> GetService(std::string_view ns, std::string_view service,
                                 const InstanceFilter& filter = {});
  // Blocking query: returns once the store has a change under the service with revision
  // > `index` (at once when it already has), or after `wait` with the current view. An
  // unknown service yields an empty view rather than kNotFound.
  Result<ServiceView> BlockingGetService(std::string_view ns, std::string_view service,
                                         const InstanceFilter& filter, int64_t index,
                                         std::chrono::milliseconds wait);

  // Streams changes of a namespace (`service` empty) or a service, from `from_revision`
  // (0: from now) in revision order, never losing one. `ns` empty watches everything.
  Result<std::unique_ptr<Subscription>> Watch(std::string_view ns, std::string_view service,
                                              int64_t from_revision, WatchHandler handler);

  // Many watches on one handler (a multiplexed watch stream): each spec is validated
  // (kInvalidArgument naming the watch id; nothing starts then), then every watch behaves as
  // Watch would, delivered through one handler: first a `created` batch, then per store
  // change one batch with the events of every watch that wants them. Callbacks of one
  // MultiSubscription may run on several threads (watches older than the hub's history
  // have store watches of their own) but each watch's events arrive in order.
  Result<std::unique_ptr<MultiSubscription>> WatchMany(std::vector<WatchSpec> specs,
                                                       MultiWatchHandler handler);
  // Why `spec` cannot be watched, naming it by id; used by WatchMany before anything starts.
  static Result<void> ValidateWatchSpec(const WatchSpec& spec);

  // Records a health transition; writes only when `health` differs from the stored one, or
  // when the stored output is still kNoCheckResultYet (a check's first result). kNotFound when the
  // instance is gone. Returns the stored instance (unchanged when there was no transition).
  // `precondition`, when set, is asked about the stored instance inside the compare-and-swap
  // loop; its error is returned and nothing is written (a node's report on an instance that
  // moved to another node, a stale "node down" on one that now passes).
  using HealthPrecondition = std::function<Result<void>(const Instance& stored)>;
  Result<Instance> SetHealth(std::string_view ns, std::string_view service, std::string_view id,
                             Health health, std::string_view output,
                             const HealthPrecondition& precondition = nullptr);

  // One sweep: self-preservation and deregister_after. Call every ~window (Run does).
  Result<void> Sweep();

  RegistryStats& stats() { return stats_; }
  const RegistryOptions& options() const { return options_; }
  store::Store& store() { return store_; }

 private:
  Result<std::optional<Instance>> Load(const std::string& key, store::KeyValue* raw = nullptr);
  // Compare-and-swap write of `in` at its key expecting `mod_revision` (0: absent).
  Result<std::optional<int64_t>> CasPut(const Instance& in, int64_t mod_revision, int64_t lease);
  struct AsyncRegistration;
  void RegisterAttempt(std::shared_ptr<AsyncRegistration> registration, int attempt);
  // The instance to store for `spec` over `old` (health kept unless the check changed).
  Instance NextRegistration(const Instance& spec, const std::optional<Instance>& old,
                            int64_t lease);

  store::Store& store_;
  Clock& clock_;
  RegistryOptions options_;
  RegistryStats stats_;
  std::unique_ptr<WatchHub> hub_;
};

}  // namespace berth::registry
