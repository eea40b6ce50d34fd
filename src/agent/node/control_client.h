// The node agent's side of contract 1 (docs/api.md, "Nodes"): blocking calls to the control
// plane's API with a bearer token — node registration and heartbeats, the assignment list
// and its JSON-lines watch, instance status reports, and the registry entries of ready
// instances. HTTP errors come back as Errors with the server's code (404 → kNotFound, 410 →
// kCompacted, ...); a server that cannot be reached is kUnavailable.
// Thread-safety: every call uses its own connection, so calls may come from any thread;
// Shutdown() ends a running WatchAssignments from another thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include "core/error.h"

#include "core/http/client.h"
#include "orchestrator/codec.h"
#include "orchestrator/types.h"
#include "registry/model.h"

namespace berth::agent::node {

struct NodeRegistration {
  std::string node;
  std::map<std::string, std::string> labels;
  orchestrator::Resources capacity;
  std::string address;
  int64_t ttl_seconds = 10;
};

struct AssignmentList {
  int64_t revision = 0;
  std::vector<orchestrator::Assignment> assignments;
};

struct AssignmentEvent {
  enum class Type { kPut, kDelete, kProgress };
  Type type = Type::kProgress;
  int64_t revision = 0;
  std::string key;
  std::optional<orchestrator::Assignment> assignment;  // kPut
};

// A status report: InstanceStatus plus where the instance can be reached.
struct StatusReport {
  orchestrator::InstanceStatus status;
  std::string ip;
  std::map<int, int> ports;  // container port → host port (0: not published)
  bool operator==(const StatusReport&) const = default;
};

struct RegistryEntry {
  std::string ns, service, id;
  std::string address;
  int port = 0;
  std::vector<std::string> tags;
  std::map<std::string, std::string> metadata;
  int64_t ttl_seconds = 10;
};

// The exec checks this node runs (GET /v1/nodes/{node}/checks).
struct CheckList {
  int64_t revision = 0;
  std::vector<registry::Instance> instances;
};

struct CheckEvent {
  enum class Type { kPut, kDelete, kProgress };
  Type type = Type::kProgress;
  int64_t revision = 0;
  std::string key;                             // the instance key (registry::InstanceKey)
  std::optional<registry::Instance> instance;  // kPut
};

class ControlClient {
 public:
  // `server` is "http://host:port" (a bare "host:port" gets http://), or several servers
  // comma-separated, between which calls fail over (core/http/client.h). `tls`: the CA (and
  // client certificate) for https servers; its timeouts are ignored.
  ControlClient(std::string server, std::string token, http::ClientOptions tls = {});

  // PUT /v1/nodes/{node}: the lease id.
  Result<int64_t> Register(const NodeRegistration& registration);
  // kNotFound when the lease is gone (register again).
  Result<void> Heartbeat(const std::string& node, int64_t lease);

  Result<AssignmentList> ListAssignments(const std::string& node);
  // Streams events from `from_revision` until the stream ends (Ok), `on_event` returns
  // false, Shutdown() is called, or an error (kCompacted: list again). Bad lines are skipped
  // with a log line.
  Result<void> WatchAssignments(const std::string& node, int64_t from_revision,
                                const std::function<bool(AssignmentEvent&&)>& on_event);
  void Shutdown();

  // The report's cpuMillis is dropped (for good) if the server refuses it as unknown.
  Result<void> PutStatus(const orchestrator::Instance& instance, const StatusReport& report);
  Result<void> DeleteStatus(const orchestrator::Instance& instance);

  Result<void> RegisterInstance(const RegistryEntry& entry);
  // kNotFound when the entry (or its lease) is gone.
  Result<void> HeartbeatInstance(const std::string& ns, const std::string& service,
                                 const std::string& id);
  Result<void> DeregisterInstance(const std::string& ns, const std::string& service,
                                  const std::string& id);

  // Node-local exec checks: the list, its watch (as WatchAssignments; kCompacted: list
  // again), and a result (kPermissionDenied, kFailedPrecondition or kNotFound when the check
  // is not this node's any more). One stream at a time per client.
  Result<CheckList> ListChecks(const std::string& node);
  Result<void> WatchChecks(const std::string& node, int64_t from_revision,
                           const std::function<bool(CheckEvent&&)>& on_event);
  Result<void> ReportHealth(const std::string& ns, const std::string& service,
                            const std::string& id, registry::Health status,
                            const std::string& output);

  const std::string& server() const { return server_; }

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
