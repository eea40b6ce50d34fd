// The reconciler: one pass reads the desired state (/apps/...) and the actual state
// (/nodes/<id>, their assignments and the agents' status reports) from the Store at one
// revision (Observe), runs the Scheduler and turns its plan into assignment puts and
// deletes under /nodes/<id>/assignments/ (Plan; key layout in codec.h), then writes them in
// bounded transactions (Commit). Runs on the elected leader only; the caller drives it
// (RunOnce, or Plan and Commit with work between them, on a timer or on watch events for
// /apps/ and /nodes/). The Controller (controller.h) commits after its bookkeeping, so a
// route moves off instances before the plan stops them.
// A node that is down, or whose key is gone (its lease lapsed) while assignments name it,
// keeps its instances for `down_grace` (NodeGrace, node_grace.h); then they are lost and
// placed elsewhere.
// The assignment of an instance its agent reports failed or stopped is deleted (the agent
// cleans up) while the scheduler places its replacement.
// Replicas that cannot be placed are reported with the reason; while no node has joined
// the cluster at all (a first `berthd dev` start racing its own node) they are reported as
// waiting for nodes, not as unschedulable. Each is logged when its reason changes.
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
#include "orchestrator/node_grace.h"
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
    // No node has joined the cluster yet: the replicas wait for one (not a failure).
    bool waiting_for_nodes = false;
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

// A pass planned and not yet written: its result (counts as they will be once committed)
// and the store operations that write it.
struct PlannedPass {
  PassResult result;
  std::vector<store::TxnOp> ops;
};

class Reconciler {
 public:
  Reconciler(store::Store& store, Clock& clock, Random& random, ReconcilerOptions options = {});

  // One reconcile pass: Plan, then Commit. Fails when the store fails, or with
  // kFailedPrecondition when the guard no longer holds (nothing of that transaction was
  // written); bad values are skipped and listed.
  Result<PassResult> RunOnce();

  // The first half of a pass: reads the state and plans, writing nothing.
  Result<PlannedPass> Plan();
  // The second half: writes the plan (its ops are used up) in transactions of at most
  // max_ops_per_txn operations, each carrying the guard. kFailedPrecondition when the guard
  // no longer holds.
  Result<void> Commit(PlannedPass& pass);

  // A compare every plan transaction carries (the controller's leader key held by its
  // lease), so a leader that lost its lease cannot write. Empty: none.
  void set_guard(std::optional<store::Compare> guard) { guard_ = std::move(guard); }

 private:
  // Logs each unplaceable service when it first fails or its reason changes.
  void LogUnplaceable(const std::vector<PassResult::Unplaceable>& unplaceable);

  store::Store& store_;
  Clock& clock_;
  Random& random_;
  ReconcilerOptions options_;
  std::optional<store::Compare> guard_;
  NodeGrace grace_;
  // The reason last logged per unplaceable "ns/app/svc", so each is logged once a change.
  std::unordered_map<std::string, std::string> logged_unplaceable_;
};

}  // namespace berth::orchestrator
