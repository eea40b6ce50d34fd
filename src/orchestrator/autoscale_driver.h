// AutoscaleDriver: the controller's autoscaling duty. After each reconcile pass, for every
// service with `autoscale`, it measures the load — its ready instances' CPU (the agents'
// reports in the pass) and its request rate (the gateways' reports under /load/gateway/,
// gateway/load_report.h) — asks the service's Autoscaler (autoscaler.h) and writes a
// decision as `berth scale` would, through AppStore::Scale with `from` = the replicas the
// pass saw (a service changed meanwhile is decided again on the next pass) and a "Scaled"
// event saying why. The last action goes to
//   /orchestrator/autoscale/<ns>/<app>/<svc>   {"time_ms", "from", "to", "reason"}
// so a new leader's driver keeps the cool-down. Writes carry the caller's guard.
// Thread-safety: SumGatewayLoad is a pure function; a driver is used by one thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "orchestrator/app_store.h"
#include "orchestrator/autoscaler.h"
#include "orchestrator/reconciler.h"
#include "store/store.h"

namespace berth::orchestrator {

// Requests per second by "ns/svc", summed over the gateways' stored reports; nullopt when
// no report decodes (then a request-rate target is not measured). A report that does not
// decode is left out (and logged).
std::optional<std::map<std::string, double>> SumGatewayLoad(
    const std::vector<store::KeyValue>& reports);

class AutoscaleDriver {
 public:
  AutoscaleDriver(store::Store& store, Clock& clock, AppStore& apps)
      : store_(store), clock_(clock), apps_(apps) {}

  // Forgets every service's Autoscaler (a leader that steps down).
  void Clear() { autoscalers_.clear(); }

  // One pass's decisions. Returns what it scaled: "ns/app/svc N -> M".
  std::vector<std::string> Run(const PassResult& pass, const store::Compare& guard);

 private:
  // The service's Autoscaler; a new one keeps the cool-down of the stored last action.
  Autoscaler& For(const std::string& key, const App& app, const ServiceSpec& spec);
  // Writes a decision; false when AppStore::Scale refused it.
  bool Apply(const App& app, const ServiceSpec& spec, const ScaleDecision& d,
             const store::Compare& guard);

  store::Store& store_;
  Clock& clock_;
  AppStore& apps_;
  std::map<std::string, Autoscaler> autoscalers_;  // by "ns/app/svc"
};

}  // namespace berth::orchestrator
