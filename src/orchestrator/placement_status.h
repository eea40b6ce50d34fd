// PlacementStatus: the controller's placement-status duty. After each reconcile pass it
// records, per app, the replicas the scheduler could not place and why:
//   /orchestrator/status/<ns>/<app>   {"services": {"<svc>": {"unschedulable"|"waiting":
//                                      {"count", "reason"}}}}  (rewritten only on change;
//                                      deleted with its app)
// and says so once per reason in the app's events: Warning Unschedulable (no node can take
// them), Normal WaitingForNodes (no node has joined the cluster yet: pending, not a failure),
// Normal Scheduled once every replica has a node again. Writes carry the caller's guard.
// Load() reads what a previous leader recorded, so a new leader does not say it again.
// Thread-safety: not thread-safe; the controller's loop thread owns it.
#pragma once

#include <map>
#include <string>

#include "core/clock.h"
#include "core/error.h"
#include "orchestrator/app_store.h"
#include "orchestrator/reconciler.h"
#include "store/store.h"

namespace berth::orchestrator {

class PlacementStatus {
 public:
  PlacementStatus(store::Store& store, Clock& clock, AppStore& apps)
      : store_(store), clock_(clock), apps_(apps) {}

  // Reads the stored status records (a new leader's start); forgets what it held before.
  Result<void> Load();
  // Forgets everything (a leader that steps down).
  void Clear();

  // Records one pass's unplaceable replicas and their events.
  void Write(const PassResult& pass, const store::Compare& guard);

 private:
  // Events by "ns/app" for the reasons that changed; updates unplaceable_.
  std::map<std::string, std::vector<Event>> Changes(const PassResult& pass);

  store::Store& store_;
  Clock& clock_;
  AppStore& apps_;
  std::map<std::string, std::string> status_;       // status key -> last JSON written
  std::map<std::string, std::string> unplaceable_;  // "ns/app/svc" -> reason last said
};

}  // namespace berth::orchestrator
