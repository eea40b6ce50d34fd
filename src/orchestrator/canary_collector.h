// CanaryCollector: the controller's canary duty. After each reconcile pass it deletes the
// canary records (canary.h) that are done, so the scheduler and the routes stop treating the
// service as two halves:
//   canary     the service's version is no longer the record's canary (written around the
//              AppStore), or update.canary was removed in place
//   promoted   its rollout is complete and only the current version is live, or the service
//              moved on to another version
//   aborted    only the stable version is live, or the service moved on
//   any        the service is gone
// A delete is guarded by the caller's guard (the leader's lease) and by the record's
// mod_revision as the pass read it: a record rewritten meanwhile is left for the next pass.
// Thread-safety: not thread-safe; the controller's loop thread owns it.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "orchestrator/canary.h"
#include "orchestrator/reconciler.h"
#include "store/store.h"

namespace berth::orchestrator {

// Whether `record` is done. `current`: the service's spec now (nullptr: the service is
// gone); `live`: the deploy hashes of its live instances; `rollout_complete`: its current
// rollout is complete.
bool CanaryDone(const CanaryRecord& record, const ServiceSpec* current,
                const std::set<uint64_t>& live, bool rollout_complete);

class CanaryCollector {
 public:
  explicit CanaryCollector(store::Store& store) : store_(store) {}

  // Deletes the pass's records that are done. `complete`: the "ns/app/svc" whose rollout is
  // complete (RolloutTracker::Complete). Returns the "ns/app/svc" deleted.
  std::set<std::string> Collect(const PassResult& pass, const std::set<std::string>& complete,
                                const store::Compare& guard);

 private:
  store::Store& store_;
};

}  // namespace berth::orchestrator
