// RolloutTracker: the controller's rollout duty. After each reconcile pass it follows every
// service's move to its current deploy hash with one Rollout (rollout.h), fed with the new
// version's available / failed / crash-looping instances and the outdated ones left, and
// keeps what it saw in the store:
//   /orchestrator/rollouts/<ns>/<app>/<svc>   the rollout record (phase, counts, canary
//                                             halves), rewritten only when it changes
//   events                                    RolloutStarted / Complete / Failed, CanaryReady,
//                                             RollbackImpossible / RollbackFailed
// A failed rolling update with autoRollback is undone to the history entry of the previous
// deploy hash (AppStore::Undo), a failed canary aborted (AppStore::Abort); a rollback is
// never rolled back itself. A canary (canary.h) is followed on its canary half only and then
// waits (kPaused) until promoted or aborted.
// Every write carries the caller's guard (the leader's lease). Load() reads the records a
// previous leader wrote; a progressing rollout then starts its progress deadline afresh.
// Thread-safety: not thread-safe; the controller's loop thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "orchestrator/app_store.h"
#include "orchestrator/reconciler.h"
#include "orchestrator/rollout.h"
#include "store/store.h"

namespace berth::orchestrator {

class RolloutTracker {
 public:
  // `crash_loop_restarts`: a new-version instance that restarted this many times during
  // its rollout counts as failed (0: only those its agent reports failed).
  RolloutTracker(store::Store& store, Clock& clock, AppStore& apps, int32_t crash_loop_restarts);

  // Reads the stored records (a new leader's start); forgets what it held before.
  Result<void> Load();
  // Forgets everything (a leader that steps down).
  void Clear() { rollouts_.clear(); }

  // One pass's bookkeeping. Returns the "ns/app/svc" it rolled back or aborted.
  std::vector<std::string> Track(const PassResult& pass, const store::Compare& guard);

  // The "ns/app/svc" whose current rollout is complete.
  std::set<std::string> Complete() const;

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
    // A canary before its promotion: `rollout` follows the canary instances only
    // (update.canary of them), then the phase is kPaused until promote or abort.
    bool canary = false;
    std::string record;  // last JSON written
  };
  // What one pass saw of a service's instances.
  struct Observed {
    int64_t new_total = 0, new_available = 0, outdated = 0;
    std::map<uint64_t, int> old_hashes;  // live outdated instances by deploy hash
    std::vector<std::pair<const Instance*, std::string>> failed_now;  // and why
    std::vector<const Instance*> crash_looping;  // candidates: restarted often enough
  };
  // One service's pass: what it is about, and where its effects go.
  struct ServicePass {
    const App& app;
    const ServiceSpec& spec;
    const std::string& key;
    const std::vector<const Instance*>& instances;
    const CanaryRecord* canary;
    const store::Compare& guard;
    std::vector<Event>& events;
    std::vector<std::string>& rolled_back;
  };

  void TrackService(const ServicePass& p);
  Observed Observe(const ServicePass& p) const;
  // A new deploy hash: a new Tracked (and the RolloutStarted event).
  Tracked Begin(const ServicePass& p, const Tracked& last, const Observed& o) const;
  // The new version's instances that failed in this pass, crash loops since the rollout
  // began included; the first one's reason becomes t.failure.
  std::vector<const Instance*> Failures(Tracked& t, Observed& o) const;
  void ObserveRolling(const ServicePass& p, Tracked& t, const Observed& o,
                      const std::vector<const Instance*>& failed_now);
  void RollBack(const ServicePass& p, Tracked& t);
  void TrackCanary(const ServicePass& p, Tracked& t, int64_t new_available,
                   const std::vector<const Instance*>& failed_now);
  void WriteRecord(const ServicePass& p, Tracked& t, const Observed& o);

  store::Store& store_;
  Clock& clock_;
  AppStore& apps_;
  const int32_t crash_loop_restarts_;
  std::map<std::string, Tracked> rollouts_;  // by "ns/app/svc"
};

}  // namespace berth::orchestrator
