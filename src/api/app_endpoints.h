// The orchestrator's REST endpoints (app_endpoints.cc), over AppStore (desired state) and the
// records the Controller keeps (status, rollouts, events):
//   POST   /v1/apps[?dry_run=1][&filename=F][&name=N]   apply a YAML or JSON app spec
//   GET    /v1/apps[?namespace=NS][&instances=1]        apps with per-service counts
//   GET    /v1/apps/{ns}/{app}                          spec, services, instances, events
//   DELETE /v1/apps/{ns}/{app}
//   POST   /v1/apps/{ns}/{app}/services/{svc}/scale     {"replicas": N}
//   GET    /v1/apps/{ns}/{app}/services/{svc}/rollout   the rollout record and history
//   POST   /v1/apps/{ns}/{app}/services/{svc}/rollout/undo  {"revision": N} (0/absent: previous)
// Handlers run on the API's handler pool and may wait on the store.
#pragma once

#include "api/router.h"
#include "core/clock.h"
#include "store/store.h"

namespace berth::security::admission {
class AdmissionController;
}

namespace berth::api {

// `admission` (optional) judges apply, scale-up, undo and promote against the namespace's
// admission policy (api/admission_endpoints.h).
void RegisterAppEndpoints(Router& router, store::Store& store, Clock& clock,
                          security::admission::AdmissionController* admission = nullptr);

}  // namespace berth::api
