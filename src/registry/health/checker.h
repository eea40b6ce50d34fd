// The health checker of the control plane: runs the HTTP, TCP and exec checks that
// instances declare through a CheckScheduler (scheduler.h: one timer per check, no thread per
// check, rise/fall thresholds) and writes health transitions (only transitions) to the
// registry. It runs on the health leader only (component.h).
//
// Routing: exec checks of instances that name a node (ExecCheckNode: metadata "berth.node")
// are not run here: that node's agent runs them and reports (agent/node/node_checks.h). The
// checker keeps an eye on those instances instead: every `node_check_interval` it asks
// `node_alive` about the node of each one that is not critical, and marks it critical ("node
// N is down") when the node's lease has ended, so an instance whose agent has gone never stays
// passing. HTTP and TCP checks, and exec checks without a node, run here.
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

#include <functional>
#include <string>

#include "registry/health/probe.h"
#include "registry/health/scheduler.h"
#include "registry/registry.h"

namespace berth::registry::health {

struct HealthCheckerOptions {
  // How often to run Registry::Sweep (0: never).
  std::chrono::milliseconds sweep_interval{1000};
  // Spread first probes over up to this share of their interval (by a hash of the key).
  double start_spread = 0.5;
  // Whether a node's agent is alive (its lease holds); kept out of the registry, which knows
  // no nodes (berthd reads /nodes/<node>). Null: node-local checks are never marked down.
  std::function<Result<bool>(const std::string& node)> node_alive;
  std::chrono::milliseconds node_check_interval{1000};
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
  // Node-local exec checks this checker watches over (gauge).
  int64_t node_checks() const;

  class Core;

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace berth::registry::health
