// NodeAgent: the node side of the orchestrator. It joins a control plane as one node and
// makes the node's containers match the node's assignments:
//
//   lease thread   PUT /v1/nodes/{node} (capacity from the host), heartbeat every ttl/3,
//                  register again when the lease is gone (then every status is re-sent)
//   watch thread   list the assignments, then watch them from the list's revision + 1,
//                  resuming after a dropped stream from the last revision seen (a compacted
//                  revision lists again)
//   worker thread  every tick (or at once on a change): start what is assigned and not
//                  running, stop what is no longer assigned, follow the containers (exits,
//                  restarts, removal), run due probes, sample running containers' cgroup
//                  CPU time (every cpu_sample_interval; the average over cpu_window goes in
//                  the status report as cpuMillis), send changed status reports, and keep
//                  ready instances registered in the registry (TTL heartbeats)
//   op pool        the slow parts: Containers::Run (pulling the image when the reference
//                  names a registry) and the stop sequence — deregister, drain pause,
//                  SIGTERM, grace, SIGKILL, remove, delete the status report
//   probe io       HTTP and TCP probes against the container IP (registry/health probes);
//                  exec probes through Containers::Exec on their own two threads, killed at
//                  the probe's timeout and when the NodeAgent stops
//
// Its collaborators are injected: the control plane (ControlPlane: ControlClient over HTTP,
// or a fake in tests) and the node's containers (Containers: AgentContainers over the Agent,
// or a fake). The registry's exec checks of this node are NodeChecks' (node_checks.h), wired
// beside it.
//
// Containers are named by instance id. The instances this agent started are recorded in
// <state_dir>/instances.json, so a restarted agent adopts the containers that still run
// (the Agent adopts their shims) and stops the ones no longer assigned, once it has the
// assignment list. Until then (control plane unreachable) nothing is stopped.
//
// Probes (Kubernetes' semantics): startup first, until it passes success_threshold times in
// a row (failure_threshold failures restart the container); then readiness (ready after
// success_threshold passes, unready after failure_threshold failures; without a readiness
// probe a running container is ready) and liveness (failure_threshold failures restart the
// container, with the restart policy's back-off). Instances that are not ready leave the
// registry before anything else happens to them.
// Thread-safety: the public methods are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/node/cgroup_cpu.h"
#include "agent/node/containers.h"
#include "agent/node/control_plane.h"
#include "agent/node/run_spec.h"
#include "core/clock.h"
#include "core/error.h"
#include "orchestrator/types.h"

namespace berth::agent::node {

struct NodeAgentOptions {
  std::string node;  // node name
  std::map<std::string, std::string> labels;
  orchestrator::Resources capacity;   // a zero field is read from the host
  std::string address = "127.0.0.1";  // published ports bind here; reported to the server
  std::string state_dir;              // instances.json
  std::string gateway_url;            // BERTH_GATEWAY_URL for containers; empty: unset
  int64_t ttl_seconds = 10;           // node lease
  int64_t registry_ttl_seconds = 10;  // registry entries of ready instances
  std::chrono::milliseconds tick{250};
  std::chrono::milliseconds drain_pause{2000};  // deregistered → SIGTERM
  std::chrono::milliseconds stop_grace{10000};  // SIGTERM → SIGKILL
  int op_threads = 4;
  // CPU use reported with each instance's status (cgroup_cpu.h): sampled this often,
  // averaged over this window.
  std::chrono::milliseconds cpu_sample_interval{5000};
  std::chrono::milliseconds cpu_window{30000};
};

// One instance as this agent sees it (for tests, logs and `berthd agent` status).
struct InstanceView {
  orchestrator::Instance instance;
  orchestrator::InstanceState state = orchestrator::InstanceState::kPending;
  std::string message;
  std::string ip;
  bool in_registry = false;
};

class NodeAgent {
 public:
  // Reads the state file and starts the threads; registration happens in the background
  // (a control plane that is not up yet is retried). `control` and `containers` outlive
  // the NodeAgent.
  static Result<std::unique_ptr<NodeAgent>> Start(NodeAgentOptions options, Clock& clock,
                                                  ControlPlane& control, Containers& containers);
  // Stops the threads and kills running exec probes (ControlPlane::Shutdown ends the
  // watch); containers keep running (a new NodeAgent adopts them).
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  bool registered() const { return lease_.load() != 0; }
  std::vector<InstanceView> Instances() const;
  const NodeAgentOptions& options() const { return options_; }

 private:
  struct Inst;
  struct ProbeState;
  NodeAgent(NodeAgentOptions options, Clock& clock, ControlPlane& control, Containers& containers);

  void LeaseLoop();
  void WatchLoop();
  void WorkerLoop();
  void Tick();
  bool Sleep(std::chrono::milliseconds d);  // false once stopping
  void Wake();

  void StartOp(std::shared_ptr<Inst> inst);
  void StopOp(std::shared_ptr<Inst> inst);
  void RestartOp(std::shared_ptr<Inst> inst, std::string why);
  void RunProbe(std::shared_ptr<Inst> inst, int which, uint64_t generation);
  void OnProbe(const std::shared_ptr<Inst>& inst, int which, uint64_t generation, bool ok,
               std::string output);
  void Follow(const std::shared_ptr<Inst>& inst);  // takes mu_ after Agent::Inspect
  void SampleCpu(const std::vector<std::shared_ptr<Inst>>& running);  // worker thread
  void Sync(const std::shared_ptr<Inst>& inst);  // status + registry, outside mu_
  void RunExecProbe(std::shared_ptr<Inst> inst, int which, uint64_t generation,
                    const orchestrator::Probe& probe, const std::string& name);  // exec pool

  Result<void> LoadOwned();
  void SaveOwnedLocked();  // under mu_

  const NodeAgentOptions options_;
  Clock& clock_;
  ControlPlane& control_;
  Containers& containers_;
  std::atomic<int64_t> lease_{0};
  std::atomic<uint64_t> epoch_{0};  // +1 per registration: re-send every status

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Inst>> insts_;       // by "<ns>/<app>/<id>"; guarded by mu_
  std::map<std::string, orchestrator::Assignment> desired_;  // guarded by mu_
  bool listed_ = false;  // desired_ came from the server at least once; guarded by mu_
  std::map<std::string, std::string> owned_;  // container name → key; guarded by mu_

  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool stopping_ = false;  // guarded by wake_mu_
  bool woken_ = false;     // guarded by wake_mu_

  // CPU accounting of running containers, by instance key; the worker thread's own.
  struct CpuSampler {
    int pid = 0;
    std::optional<CpuAccounting> accounting;
    CpuWindow window{std::chrono::seconds(30)};
    Clock::TimePoint due{};
  };
  std::map<std::string, CpuSampler> cpu_;

  std::stop_source exec_stop_;  // requested when stopping: running exec probes are killed
  struct Pools;
  std::unique_ptr<Pools> pools_;
  std::thread lease_thread_, watch_thread_, worker_thread_;
};

}  // namespace berth::agent::node
