// Controller: the control plane's orchestrator loop. Every berthd control plane runs one;
// the one that holds the leader key leads, the others wait.
//
// - Leader election on /orchestrator/leader through store::LeaderElection (store/leader.h):
//   campaign, renewal every ttl/3, step down when the renewal fails or a guarded write finds
//   the key no longer under its lease. Every plan write carries the election's Guard(), so a
//   deposed leader cannot write. Stop() resigns, so another candidate leads at its next Tick.
// - Triggers: a watch on /apps/ and /nodes/ (debounced) and a pass every `interval`, so the
//   grace period of a lost node is noticed without an event.
// - The leader's pass, in this order: Reconciler::Plan (reads and plans, writes nothing),
//   then the duties, each an object of its own with its own test:
//     RolloutTracker   rollouts, automatic rollback / canary abort   (rollout_tracker.h)
//     CanaryCollector  canary records that are done                  (canary_collector.h)
//     PlacementStatus  unschedulable / waiting replicas, events      (placement_status.h)
//     RouteSync        gateway routes for `expose`                   (route_sync.h)
//     AutoscaleDriver  autoscaling decisions written as scales       (autoscale_driver.h)
//   then Reconciler::Commit writes the plan: a route moves off an aborted canary before the
//   plan's stops reach its agents. Every duty writes under the election's Guard().
// A new leader loads the duties' records (a progressing rollout starts its progress
// deadline afresh; reasons already said are not said again; the autoscalers' cool-down).
// Thread-safety: Start/Stop from one thread; Tick is for tests and is not to be called while
// started. leading() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/random.h"
#include "orchestrator/app_store.h"
#include "orchestrator/autoscale_driver.h"
#include "orchestrator/canary_collector.h"
#include "orchestrator/placement_status.h"
#include "orchestrator/reconciler.h"
#include "orchestrator/rollout_tracker.h"
#include "orchestrator/route_sync.h"
#include "store/leader.h"
#include "store/store.h"

namespace berth::orchestrator {

struct ControllerOptions {
  std::string id;  // this candidate's name, unique among the control planes
  int64_t lease_ttl_seconds = 10;
  std::chrono::milliseconds interval{1000};  // a pass at least this often (real time)
  std::chrono::milliseconds debounce{100};   // after a watch event, wait for more
  // A new-version instance whose container restarted this many times during its rollout
  // counts as failed (a crash loop), like one its agent reports failed. 0: only the latter.
  int32_t crash_loop_restarts = 3;
  ReconcilerOptions reconciler;
};

// What a Tick did, for tests and logs.
struct TickResult {
  bool leading = false;
  std::optional<PassResult> pass;        // when leading
  std::vector<std::string> rolled_back;  // "ns/app/svc" rolled back in this tick
  std::vector<std::string> scaled;       // "ns/app/svc N -> M" by the autoscaler in this tick
};

class Controller {
 public:
  Controller(store::Store& store, Clock& clock, Random& random, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the watch, runs a first Tick, and starts the loop thread.
  Result<void> Start();
  // Stops the loop and steps down (revokes the lease). Idempotent.
  void Stop();

  // One step: campaign or keep the lease; when leading, a reconcile pass and its bookkeeping.
  Result<TickResult> Tick();

  bool leading() const { return leading_.load(); }
  const std::string& id() const { return options_.id; }

 private:
  void OnElected();
  void StepDown(std::string_view why);
  Result<void> LoadRecords();
  // The duties, in their order (see the header paragraph).
  void Bookkeep(const PassResult& pass, TickResult& out);
  void Loop();

  store::Store& store_;
  Clock& clock_;
  ControllerOptions options_;
  Reconciler reconciler_;
  AppStore apps_;

  // The duties (their own headers say what each keeps in the store).
  RolloutTracker rollouts_;
  CanaryCollector canaries_;
  PlacementStatus placement_;
  RouteSync routes_;
  AutoscaleDriver autoscale_;

  store::LeaderElection election_;
  std::atomic<bool> leading_{false};  // elected and its records loaded

  std::unique_ptr<store::Watcher> watcher_;        // /apps/
  std::unique_ptr<store::Watcher> nodes_watcher_;  // /nodes/
  std::thread thread_;
  std::mutex mu_;  // guards dirty_, stop_, rewatch_
  std::condition_variable cv_;
  bool dirty_ = false;
  bool stop_ = false;
  bool rewatch_ = false;
};

}  // namespace berth::orchestrator
