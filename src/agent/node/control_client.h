// ControlClient: the ControlPlane (control_plane.h) over the control plane's HTTP API —
// blocking calls with a bearer token: node registration and heartbeats, the assignment list
// and its JSON-lines watch, instance status reports, the registry entries of ready
// instances, and the node-local exec checks (NodeChecks). HTTP errors come back as Errors
// with the server's code (404 → kNotFound, 410 → kCompacted, ...); a server that cannot be
// reached is kUnavailable.
// Thread-safety: every call uses its own connection, so calls may come from any thread;
// Shutdown() ends a running WatchAssignments from another thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "agent/node/control_plane.h"
#include "core/error.h"
#include "core/http/client.h"
#include "orchestrator/types.h"
#include "registry/model.h"

namespace berth::agent::node {

class ControlClient final : public ControlPlane {
 public:
  // `server` is "http://host:port" (a bare "host:port" gets http://), or several servers
  // comma-separated, between which calls fail over (core/http/client.h). `tls`: the CA (and
  // client certificate) for https servers; its timeouts are ignored.
  ControlClient(std::string server, std::string token, http::ClientOptions tls = {});

  const std::string& server() const override { return server_; }

  // PUT /v1/nodes/{node}.
  Result<int64_t> Register(const NodeRegistration& registration) override;
  Result<void> Heartbeat(const std::string& node, int64_t lease) override;

  Result<AssignmentList> ListAssignments(const std::string& node) override;
  // Bad lines are skipped with a log line.
  Result<void> WatchAssignments(const std::string& node, int64_t from_revision,
                                const std::function<bool(AssignmentEvent&&)>& on_event) override;
  void Shutdown() override;

  // The report's cpuMillis is dropped (for good) if the server refuses it as unknown.
  Result<void> PutStatus(const orchestrator::Instance& instance,
                         const StatusReport& report) override;
  Result<void> DeleteStatus(const orchestrator::Instance& instance) override;

  Result<void> RegisterInstance(const RegistryEntry& entry) override;
  Result<void> HeartbeatInstance(const std::string& ns, const std::string& service,
                                 const std::string& id) override;
  Result<void> DeregisterInstance(const std::string& ns, const std::string& service,
                                  const std::string& id) override;

  // Node-local exec checks: the list, its watch (as WatchAssignments; kCompacted: list
  // again), and a result (kPermissionDenied, kFailedPrecondition or kNotFound when the check
  // is not this node's any more). One stream at a time per client.
  Result<CheckList> ListChecks(const std::string& node);
  Result<void> WatchChecks(const std::string& node, int64_t from_revision,
                           const std::function<bool(CheckEvent&&)>& on_event);
  Result<void> ReportHealth(const std::string& ns, const std::string& service,
                            const std::string& id, registry::Health status,
                            const std::string& output);

 private:
  Result<std::string> Do(std::string_view method, const std::string& path, std::string body = {});
  // GET `target` as a JSON-lines stream; each line that is not an error goes to `on_line`.
  Result<void> StreamLines(const std::string& target, std::string_view what,
                           const std::function<bool(const nlohmann::json&)>& on_line);

  std::string server_;
  std::string token_;
  http::ClientOptions tls_;
  std::atomic<bool> no_cpu_field_{false};  // the server refused "cpuMillis" once
  std::mutex mu_;
  http::Client* streaming_ = nullptr;  // guarded by mu_
  bool shutdown_ = false;              // guarded by mu_
};

}  // namespace berth::agent::node
