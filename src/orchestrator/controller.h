// Controller: the control plane's orchestrator loop. Every berthd control plane runs one;
// the one that holds the leader key leads, the others wait.
//
// - Leader election on /orchestrator/leader through store::LeaderElection (store/leader.h):
//   campaign, renewal every ttl/3, step down when the renewal fails or a guarded write finds
//   the key no longer under its lease. Every plan write carries the election's Guard(), so a
//   deposed leader cannot write. Stop() resigns, so another candidate leads at its next Tick.
// - Triggers: a watch on /apps/ and /nodes/ (debounced) and a pass every `interval`, so the
//   grace period of a lost node is noticed without an event.
// - The leader's pass: Reconciler::RunOnce, then the bookkeeping around it: rollouts (one
//   Rollout per service, its record under /orchestrator/rollouts/, automatic rollback
//   through AppStore::Undo when Rollout::ShouldRollBack), unschedulable reasons under
//   /orchestrator/status/, events, gateway routes for `expose` under /gateway/routes/, and
//   the autoscalers: per service with `autoscale`, ready instances' CPU (agents' reports)
//   and request rate (gateways' reports under /load/gateway/) → Autoscaler → AppStore::Scale
//   with an event; the last action under /orchestrator/autoscale/ (a new leader keeps the
//   cool-down).
// A new leader starts each progressing rollout's progress deadline afresh.
// Thread-safety: Start/Stop from one thread; Tick is for tests and is not to be called while
// started. leading() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "core/random.h"
#include "orchestrator/app_store.h"
#include "orchestrator/autoscaler.h"
#include "orchestrator/reconciler.h"
#include "orchestrator/rollout.h"
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
  struct Tracked {
    uint64_t from = 0, to = 0;
    std::optional<Rollout> rollout;  // while progressing
    RolloutPhase phase = RolloutPhase::kProgressing;
    std::string reason;
    int64_t started_ms = 0;
    std::set<std::string> failed;  // new-version instances seen failed
    std::string failure;           // the first of them and why
    // Restarts of new-version instances that already ran when the rollout began (a
    // rollback's): only restarts after that count towards a crash loop.
    std::map<std::string, int32_t> restarts_before;
    bool is_rollback = false;  // this rollout undoes a failed one: never rolled back
    bool rolled_back = false;
    // A canary (canary.h) before its promotion: `rollout` follows the canary instances only
    // (update.canary of them), then the phase is kPaused until promote or abort.
    bool canary = false;
    std::string record;  // last JSON written
  };

  void OnElected();
  void StepDown(std::string_view why);
  Result<void> LoadRecords();
  void Bookkeep(const PassResult& pass, TickResult& out);
  void TrackRollouts(const PassResult& pass, TickResult& out);
  void TrackCanary(const App& app, const ServiceSpec& spec, Tracked& t, int64_t new_available,
                   const std::vector<const Instance*>& failed_now, std::vector<Event>& evs,
                   TickResult& out);
  // Deletes canary records that are done: promoted and complete, aborted with no other
  // version left, or of a service that is gone. Returns their "ns/app/svc".
  std::set<std::string> CollectCanaries(const PassResult& pass);
  void WriteStatus(const PassResult& pass);
  // `aborted`: canaries aborted in this pass (their records still say canary).
  void SyncRoutes(const PassResult& pass, const std::set<std::string>& canaries_done,
                  const std::set<std::string>& aborted);
  void RunAutoscalers(const PassResult& pass, TickResult& out);
  // Requests per second by "ns/svc", summed over the gateways' reports; nullopt when no
  // gateway reports (then a request-rate target is not measured).
  std::optional<std::map<std::string, double>> ReadGatewayLoad();
  void Loop();

  store::Store& store_;
  Clock& clock_;
  ControllerOptions options_;
  Reconciler reconciler_;
  AppStore apps_;

  store::LeaderElection election_;
  std::atomic<bool> leading_{false};                // elected and its records loaded
  std::map<std::string, Tracked> rollouts_;         // by "ns/app/svc"
  std::map<std::string, std::string> status_;       // status key -> last JSON written
  std::map<std::string, std::string> unplaceable_;  // "ns/app/svc" -> reason last reported
  std::map<std::string, Autoscaler> autoscalers_;   // by "ns/app/svc", while leading

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
