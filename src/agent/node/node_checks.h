// NodeChecks: the node agent's half of node-local exec checks (docs/decisions/0007). The
// registry instances whose exec check names this node (metadata "berth.node") have it run
// here, inside the container the instance names, and the result reported to the control
// plane — the health leader does not run them.
//
//   sync thread    GET /v1/nodes/{node}/checks, then its watch from the list's revision + 1
//                  (resumed from the last revision seen, an event's or a progress line's:
//                  the server filters out other nodes' changes; a compacted one lists again)
//   io thread      the registry's CheckScheduler (the same timers, interval, timeout and
//                  rise/fall as the leader's) with a ContainerExecRunner over Containers::Exec
//   report thread  each transition as PUT /v1/registry/{ns}/{svc}/{id}/health with the
//                  agent's token; the latest result per instance is retried every second
//                  while the control plane cannot be reached, and dropped when it answers
//                  that the check is not this node's (403, 404, 409)
//
// If this agent stops, its node lease ends and the leader marks these instances critical.
// Thread-safety: construct and destroy from one thread; counters from any.
#pragma once

#include <asio/io_context.hpp>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "agent/node/containers.h"
#include "agent/node/control_client.h"
#include "core/error.h"
#include "core/http/client.h"
#include "registry/health/container_exec_runner.h"
#include "registry/health/scheduler.h"

namespace berth::agent::node {

struct NodeChecksOptions {
  std::string server;       // control plane API (several comma-separated)
  http::ClientOptions tls;  // CA (and client certificate) for https servers
  std::string token;        // the node's token (or admin)
  std::string node;
  int exec_threads = 4;  // exec checks running at once (more report "busy")
};

class NodeChecks {
 public:
  static Result<std::unique_ptr<NodeChecks>> Start(NodeChecksOptions options,
                                                   Containers& containers);
  // Stops the threads and kills running check commands (about a second at most).
  ~NodeChecks();
  NodeChecks(const NodeChecks&) = delete;
  NodeChecks& operator=(const NodeChecks&) = delete;

  // Checks scheduled here (gauge) and results reported (counter).
  int64_t checks();
  int64_t reports() const { return reports_.load(); }

 private:
  struct Pending {
    std::string ns, service, id;
    registry::Health status = registry::Health::kCritical;
    std::string output;
  };
  class ContainersExec;

  NodeChecks(NodeChecksOptions options, Containers& containers);
  void SyncLoop();
  void ReportLoop();
  bool Sleep(std::chrono::milliseconds d);  // false once stopping
  bool Stopping();
  void Apply(CheckEvent&& ev);  // sync thread

  const NodeChecksOptions options_;
  ControlClient client_;
  std::unique_ptr<ContainersExec> exec_;
  std::unique_ptr<asio::io_context> io_;
  std::thread io_thread_;
  std::unique_ptr<registry::health::ContainerExecRunner> runner_;
  std::unique_ptr<registry::health::CheckScheduler> scheduler_;
  std::set<std::string> known_;  // instance keys scheduled; the sync thread's own

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                   // guarded by mu_
  std::map<std::string, Pending> pending_;  // latest result per key; guarded by mu_
  std::atomic<int64_t> reports_{0};

  std::thread sync_thread_, report_thread_;
};

}  // namespace berth::agent::node
