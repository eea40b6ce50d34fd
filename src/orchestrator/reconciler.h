// The reconciler loop (skeleton): reads the desired state (/apps/...) and the actual state
// (/nodes/<id>, their assignments and the agents' status reports) from the Store at one
// revision, runs the Scheduler, and writes the plan back as assignment puts and deletes
// under /nodes/<id>/assignments/ (key layout in codec.h). Runs on the elected leader only;
// the caller drives it (RunOnce on a timer or on watch events for /apps/ and /nodes/).
// A node that is down, or whose key is gone (its lease lapsed) while assignments name it,
// keeps its instances for `down_grace` (they count as unavailable, nothing new lands there);
// then they are lost and placed elsewhere.
// The assignment of an instance its agent reports failed or stopped is deleted (the agent
// cleans up) while the scheduler places its replacement. Rollouts, status and routes are
// the Controller's (controller.h), which runs this on the elected leader.
// Thread-safety: not thread-safe; one RunOnce at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/random.h"
#include "orchestrator/scheduler.h"
#include "store/store.h"

namespace berth::orchestrator {

struct ReconcilerOptions {
  SchedulerOptions scheduler;
  // Operations per store transaction (etcd's default --max-txn-ops is 128).
  size_t max_ops_per_txn = 128;
  // How long a down or vanished node keeps its instances before they are replaced.
  Clock::Duration down_grace = std::chrono::seconds(30);
};

struct PassResult {
  int64_t read_revision = 0;  // the revision the pass planned from
  int64_t placed = 0;         // assignments created
  int64_t stopped = 0;        // assignments deleted
  int64_t updated = 0;        // assignments rewritten in place
  struct Unplaceable {
    std::string ns, app, service;
    int64_t count = 0;
    std::string reason;
  };
  std::vector<Unplaceable> unplaceable;
  std::vector<std::string> skipped;  // keys whose values could not be decoded, with the error
  int64_t collected = 0;             // assignments of failed or stopped instances deleted
  // The state the pass planned from, for the controller's rollout and status bookkeeping:
  // the apps, and every assigned instance with the state its agent reported.
  std::vector<App> apps;
  std::vector<Instance> instances;
  CanaryMap canaries;  // canary records (canary.h) by "ns/app/svc", read with the apps
};

class Reconciler {
 public:
  Reconciler(store::Store& store, Clock& clock, Random& random, ReconcilerOptions options = {});

  // One reconcile pass. Fails when the store fails, or with kFailedPrecondition when the
  // guard no longer holds (nothing of that transaction was written); bad values are skipped
  // and listed.
  Result<PassResult> RunOnce();

  // A compare every plan transaction carries (the controller's leader key held by its
  // lease), so a leader that lost its lease cannot write. Empty: none.
  void set_guard(std::optional<store::Compare> guard) { guard_ = std::move(guard); }

 private:
  store::Store& store_;
  Clock& clock_;
  Random& random_;
  ReconcilerOptions options_;
  std::optional<store::Compare> guard_;
  // Down or vanished nodes still in their grace period, and since when (Clock::Now).
  std::unordered_map<std::string, Clock::TimePoint> missing_since_;
};

}  // namespace berth::orchestrator
