// ControlPlane: what NodeAgent needs of the control plane (contract 1 in docs/api.md,
// "Nodes"): node registration and heartbeats, the node's assignment list and its watch,
// instance status reports, and the registry entries of ready instances. ControlClient
// (control_client.h) is the real one, over the control plane's HTTP API;
// testing/fake_control_plane.h is an in-memory one for NodeAgent's unit tests.
//
// Errors carry the server's code: kNotFound for a lease or entry that is gone, kCompacted
// for a watch revision that was compacted (list again), kUnavailable for a control plane
// that cannot be reached.
// Thread-safety: implementations take calls from several threads at once; Shutdown() ends a
// running WatchAssignments from another thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
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

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;

  // Where the control plane is, for log lines ("http://127.0.0.1:7700").
  virtual const std::string& server() const = 0;

  // Registers the node: the lease id.
  virtual Result<int64_t> Register(const NodeRegistration& registration) = 0;
  // kNotFound when the lease is gone (register again).
  virtual Result<void> Heartbeat(const std::string& node, int64_t lease) = 0;

  virtual Result<AssignmentList> ListAssignments(const std::string& node) = 0;
  // Streams events from `from_revision` until the stream ends (Ok), `on_event` returns
  // false, Shutdown() is called, or an error (kCompacted: list again).
  virtual Result<void> WatchAssignments(const std::string& node, int64_t from_revision,
                                        const std::function<bool(AssignmentEvent&&)>& on_event) = 0;
  // Ends a running watch; later watches end at once.
  virtual void Shutdown() = 0;

  virtual Result<void> PutStatus(const orchestrator::Instance& instance,
                                 const StatusReport& report) = 0;
  virtual Result<void> DeleteStatus(const orchestrator::Instance& instance) = 0;

  virtual Result<void> RegisterInstance(const RegistryEntry& entry) = 0;
  // kNotFound when the entry (or its lease) is gone.
  virtual Result<void> HeartbeatInstance(const std::string& ns, const std::string& service,
                                         const std::string& id) = 0;
  // Ok when the entry is gone already.
  virtual Result<void> DeregisterInstance(const std::string& ns, const std::string& service,
                                          const std::string& id) = 0;
};

}  // namespace berth::agent::node
