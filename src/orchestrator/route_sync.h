// RouteSync: the controller's gateway-route duty. After each reconcile pass it makes the
// gateway's routes (gateway/route_spec.h) say what the apps' `expose` entries ask for:
//   /gateway/routes/<ns>.<app>.<svc>[.<i>]   one per expose entry, owner "app:<ns>/<app>",
//                                            to the service (the expose's port when it is not
//                                            the one the agent registers)
// During a canary (canary.h) a route has one target per version by the agent's deploy tag:
// split by canaryWeight once both versions have a ready instance, all to stable before that
// and once the canary is aborted (by the API, or by this pass: CanaryChanges::aborted), the
// whole service once it is promoted or its record is collected. Routes of another owner are
// left alone, an app's route that is no longer asked for is deleted; one transaction, under
// the caller's guard.
// Thread-safety: DesiredRoutes is a pure function; a RouteSync is used by one thread.
#pragma once

#include <map>
#include <set>
#include <string>

#include "orchestrator/reconciler.h"
#include "store/store.h"

namespace berth::orchestrator {

// What the pass's other duties changed about canaries, by "ns/app/svc".
struct CanaryChanges {
  std::set<std::string> aborted;    // aborted in this pass (the records still say canary)
  std::set<std::string> collected;  // records deleted in this pass
};

// The routes the pass's apps ask for: store key -> the stored entry.
std::map<std::string, std::string> DesiredRoutes(const PassResult& pass,
                                                 const CanaryChanges& changes = {});

class RouteSync {
 public:
  explicit RouteSync(store::Store& store) : store_(store) {}

  // Writes DesiredRoutes(pass, changes) over the apps' stored routes.
  void Sync(const PassResult& pass, const CanaryChanges& changes, const store::Compare& guard);

 private:
  store::Store& store_;
};

}  // namespace berth::orchestrator
