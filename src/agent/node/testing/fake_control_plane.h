// FakeControlPlane: an in-memory ControlPlane (control_plane.h) for NodeAgent's unit tests.
// It answers like the control plane's API: a node lease that a test can expire, an
// assignment list and a watch that delivers the events a test pushes, status reports and
// registry entries kept by instance id. Tests read what the agent sent and can make any
// call fail once.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/node/control_plane.h"

namespace berth::agent::node::testing {

class FakeControlPlane final : public ControlPlane {
 public:
  FakeControlPlane() = default;

  // ---- the control plane's side (tests)
  // What ListAssignments answers.
  void SetAssignments(int64_t revision, std::vector<orchestrator::Assignment> assignments);
  // Delivered by the running watch (or the next one).
  void Push(AssignmentEvent event);
  // The running watch (or the next one) ends with `error` (e.g. kCompacted).
  void EndWatch(Error error);
  // The next `times` calls of `method` ("Register", "PutStatus", ...) fail with `error`;
  // times < 0: every call until Heal(method).
  void FailCalls(const std::string& method, Error error, int times = 1);
  void Heal(const std::string& method);
  // The node's lease is gone: heartbeats answer kNotFound until the node registers again.
  void ExpireLease();

  // ---- what the agent did (tests)
  std::vector<NodeRegistration> registrations() const;
  int lists() const;
  std::vector<int64_t> watches_from() const;  // the from_revision of every watch
  // The last status report per instance id (deleted ones gone).
  std::map<std::string, StatusReport> statuses() const;
  // The registry entries by instance id.
  std::map<std::string, RegistryEntry> registry() const;
  // Every call in order, as "Method arg" ("PutStatus api-1 ready", "DeregisterInstance
  // api-1", "DeleteStatus api-1"); heartbeats are left out.
  std::vector<std::string> calls() const;

  // ---- ControlPlane
  const std::string& server() const override { return server_; }
  Result<int64_t> Register(const NodeRegistration& registration) override;
  Result<void> Heartbeat(const std::string& node, int64_t lease) override;
  Result<AssignmentList> ListAssignments(const std::string& node) override;
  Result<void> WatchAssignments(const std::string& node, int64_t from_revision,
                                const std::function<bool(AssignmentEvent&&)>& on_event) override;
  void Shutdown() override;
  Result<void> PutStatus(const orchestrator::Instance& instance,
                         const StatusReport& report) override;
  Result<void> DeleteStatus(const orchestrator::Instance& instance) override;
  Result<void> RegisterInstance(const RegistryEntry& entry) override;
  Result<void> HeartbeatInstance(const std::string& ns, const std::string& service,
                                 const std::string& id) override;
  Result<void> DeregisterInstance(const std::string& ns, const std::string& service,
                                  const std::string& id) override;

 private:
  // The injected failure for `method`, if any (taken); under mu_.
  std::optional<Error> TakeFailureLocked(const std::string& method);

  const std::string server_ = "fake://control-plane";
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t lease_ = 0;  // guarded by mu_: 0 none (expired)
  int64_t next_lease_ = 100;
  std::vector<NodeRegistration> registrations_;  // guarded by mu_
  AssignmentList list_;                          // guarded by mu_
  int lists_ = 0;                                // guarded by mu_
  std::vector<AssignmentEvent> events_;          // guarded by mu_: not delivered yet
  std::optional<Error> end_watch_;               // guarded by mu_
  std::vector<int64_t> watches_from_;            // guarded by mu_
  bool shutdown_ = false;                        // guarded by mu_
  struct Failure {
    Error error;
    int times = 1;
  };
  std::map<std::string, Failure> failures_;        // guarded by mu_
  std::map<std::string, StatusReport> statuses_;   // guarded by mu_
  std::map<std::string, RegistryEntry> registry_;  // guarded by mu_
  std::vector<std::string> calls_;                 // guarded by mu_
};

}  // namespace berth::agent::node::testing
