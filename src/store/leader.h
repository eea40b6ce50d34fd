// LeaderElection: one candidate for a leader key in a Store, held under a store lease. Every
// control plane that shares a store runs one candidate per job (the orchestrator's
// reconciler, the registry's health checks); the one whose id the key holds leads.
//
// - Campaign: a candidate whose Tick finds the key absent puts its id there under a fresh
//   lease with a txn on create_revision == 0. A candidate that finds its own id there (a
//   restart within the lease TTL) takes the key over under a new lease and revokes the old.
// - While leading, Tick checks that the key is still under its lease (one read) and renews
//   the lease every ttl/3; it steps down when either fails (the lease expired and the store
//   deleted the key, or the key was deleted or rewritten: another candidate may lead).
// - Guard() is the compare "the key is still under my lease": a leader puts it on its writes
//   so that a deposed leader cannot write.
// - Resign() revokes the lease, so another candidate leads at its next Tick.
// The owner calls Tick on its own loop, at least every ttl/3.
// Thread-safety: Tick, StepDown and Resign from one thread; leading() and lease() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

namespace berth::store {

struct LeaderElectionOptions {
  std::string key;  // e.g. "/orchestrator/leader"
  std::string id;   // this candidate's name, unique among the candidates
  int64_t ttl_seconds = 10;
};

class LeaderElection {
 public:
  LeaderElection(Store& store, Clock& clock, LeaderElectionOptions options);
  LeaderElection(const LeaderElection&) = delete;
  LeaderElection& operator=(const LeaderElection&) = delete;

  // Campaigns when not leading; renews the lease when leading and due. Returns whether this
  // candidate leads after the step. A lost key or a failed renewal steps down and returns
  // false (with the reason in last_loss()); a failed campaign returns the store's error.
  Result<bool> Tick();
  // Forgets the leadership without touching the store (the lease lapses by itself).
  void StepDown();
  // Revokes the lease (best effort) and steps down. Does nothing when not leading.
  void Resign();

  bool leading() const { return lease_.load() != 0; }
  int64_t lease() const { return lease_.load(); }  // 0 when not leading
  Compare Guard() const;
  const LeaderElectionOptions& options() const { return options_; }
  // Why the last renewal failed ("" if none did).
  const std::string& last_loss() const { return last_loss_; }

 private:
  Result<bool> Campaign();

  Store& store_;
  Clock& clock_;
  LeaderElectionOptions options_;
  std::atomic<int64_t> lease_{0};
  Clock::TimePoint last_keepalive_{};
  std::string last_loss_;
};

}  // namespace berth::store
