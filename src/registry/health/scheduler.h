// The check scheduler: the part of health checking that both runners share — the control
// plane's HealthChecker (checks of every instance, on the health leader) and a node agent's
// NodeChecks (the exec checks of the instances whose container it runs). It keeps one timer
// per check on an Asio io_context (no thread per check), runs HTTP, TCP and exec probes and
// applies the rise/fall thresholds; every transition goes to a sink, which writes it (the
// registry, or a report to the control plane).
//
// Rise/fall: the first result of a new check is taken at once; afterwards a status changes
// only after `rise` consecutive passing results (to passing) or `fall` consecutive results of
// a worse kind (to warning or critical), so one slow answer does not flap. A check whose
// instance already carries a result (written by an earlier checker: a restart, another
// control plane that led before, a node's report, the leader's "node down") starts
// "afterwards". A status written by someone else (the instance arrives again with another
// health) becomes the current one and restarts the count.
//
// Thread-safety: Upsert/Remove from any thread (applied in call order on the scheduler's
// strand); Stop once, before destroying; the io_context must run until Stop returns. The
// sink runs on the strand and must not block. Counters may be read from any thread.
#pragma once

#include <asio/io_context.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "registry/health/probe.h"
#include "registry/model.h"

namespace berth::registry::health {

struct HealthStats {
  std::atomic<int64_t> probes{0};
  std::atomic<int64_t> probes_failed{0};  // results other than passing
  std::atomic<int64_t> transitions{0};    // transitions written (counted by the sink's owner)
  std::atomic<int64_t> checks{0};         // checks currently scheduled (gauge)
};

// Receives each transition: the instance as the scheduler last saw it, the new status and
// the output ("HTTP 503 (3 consecutive)").
using TransitionSink =
    std::function<void(const Instance& instance, Health status, std::string output)>;

struct CheckSchedulerOptions {
  // Spread first probes over up to this share of their interval (by a hash of the key).
  double start_spread = 0.5;
};

class CheckScheduler {
 public:
  // `exec` may be null: exec checks then report critical with `no_exec_reason`.
  CheckScheduler(asio::io_context& io, ExecRunner* exec, TransitionSink sink,
                 CheckSchedulerOptions options = {},
                 std::string no_exec_reason = "exec check: no exec runner here");
  ~CheckScheduler();
  CheckScheduler(const CheckScheduler&) = delete;
  CheckScheduler& operator=(const CheckScheduler&) = delete;

  // Schedules the instance's check (or reschedules it when the check changed; an instance
  // without a check is removed). An instance without a check whose key has no check
  // scheduled costs a set lookup and nothing else: the registry's health checker passes every
  // registration here, and most have no check.
  void Upsert(std::shared_ptr<const Instance> instance);
  // Stops the check of the instance at `key` (InstanceKey), if any.
  void Remove(std::string key);
  // Stops every check; no sink call happens after it returns.
  void Stop();

  HealthStats& stats();

  class Core;

 private:
  // Forgets `key` if it was scheduled; true when it was (its removal must then be posted).
  bool Forget(const std::string& key);

  std::shared_ptr<Core> core_;
  // Keys whose latest post scheduled a check: a superset of the core's checks (posts run in
  // order on its strand), so a removal of a key not here has nothing to remove.
  std::mutex scheduled_mu_;
  std::unordered_set<std::string> scheduled_;  // guarded by scheduled_mu_
};

}  // namespace berth::registry::health
