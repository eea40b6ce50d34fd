// The health checker: runs the HTTP, TCP and exec checks that instances declare, all on
// one Asio io_context (or a few threads running it) with one timer per check — no thread
// per check — and writes health transitions (only transitions) to the registry.
//
// Rise/fall: the first result of a new check is taken at once; afterwards a status
// changes only after `rise` consecutive passing results (to passing) or `fall` consecutive
// results of a worse kind (to warning or critical), so one slow answer does not flap. A
// check whose instance already carries a result (written by an earlier checker: a restart,
// another control plane that led before) starts "afterwards".
//
// It mirrors the registry by listing every instance and then watching from that revision,
// so checks start and stop as instances come and go. It also runs the registry's Sweep
// (self-preservation, deregister_after) every `sweep_interval`. Store writes happen on one
// writer thread so a slow store never delays probes.
//
// Thread-safety: Start/Stop from one thread; Stop before destroying. The io_context must
// outlive Stop. Counters may be read from any thread.
#pragma once

#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <memory>

#include "registry/health/probe.h"
#include "registry/registry.h"

namespace berth::registry::health {

struct HealthCheckerOptions {
  // How often to run Registry::Sweep (0: never).
  std::chrono::milliseconds sweep_interval{1000};
  // Spread first probes over up to this share of their interval (by a hash of the key).
  double start_spread = 0.5;
};

struct HealthStats {
  std::atomic<int64_t> probes{0};
  std::atomic<int64_t> probes_failed{0};  // results other than passing
  std::atomic<int64_t> transitions{0};    // transitions written
  std::atomic<int64_t> checks{0};         // checks currently scheduled (gauge)
};

class HealthChecker {
 public:
  // `exec` may be null: exec checks then report critical "no exec runner".
  HealthChecker(asio::io_context& io, Registry& registry, ExecRunner* exec,
                HealthCheckerOptions options = {});
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  Result<void> Start();
  void Stop();

  const HealthStats& stats() const;

  class Core;

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace berth::registry::health
