// The orchestrator's store keys and the JSON of what it keeps under them, other than apps
// (spec.h). Key layout (see README.md):
//   /apps/<ns>/<app>                                  App          (api writes)
//   /nodes/<node>                                     Node         (agent writes, under its lease)
//   /nodes/<node>/assignments/<ns>/<app>/<instance>   Assignment   (reconciler writes)
//   /nodes/<node>/status/<ns>/<app>/<instance>        InstanceStatus (agent writes)
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "orchestrator/types.h"

namespace berth::orchestrator {

inline constexpr std::string_view kAppsPrefix = "/apps/";
inline constexpr std::string_view kNodesPrefix = "/nodes/";

std::string AppKey(std::string_view ns, std::string_view app);
std::string NodeKey(std::string_view node);
std::string AssignmentKey(const Instance& instance);
// "/nodes/<node>/assignments/": every assignment of one node (what its agent watches).
std::string AssignmentsPrefix(std::string_view node);
std::string StatusKey(const Instance& instance);

// What a key under /nodes/ names.
struct NodeKeyParts {
  enum class Kind { kNode, kAssignment, kStatus };
  Kind kind = Kind::kNode;
  std::string node;
  std::string ns, app, instance;  // for assignments and status
};
std::optional<NodeKeyParts> ParseNodeKey(std::string_view key);

// What an agent reports about an instance it runs.
struct InstanceStatus {
  InstanceState state = InstanceState::kPending;
  int64_t ready_since_ms = 0;
  std::string message;  // last error, exit code, probe failure
  // CPU use of the container (millicores, averaged over the agent's window, from its
  // cgroup); -1: not measured (not running yet, or an agent that does not report it).
  int64_t cpu_millis = -1;
  int64_t restarts = 0;  // times its container was restarted (exits and failed probes)
  bool operator==(const InstanceStatus&) const = default;
};

std::string NodeToJson(const Node& node);  // id, labels, capacity, status (not allocations)
Result<Node> NodeFromJson(std::string_view json);
std::string AssignmentToJson(const Assignment& assignment);
Result<Assignment> AssignmentFromJson(std::string_view json);
std::string InstanceStatusToJson(const InstanceStatus& status);
Result<InstanceStatus> InstanceStatusFromJson(std::string_view json);

Result<NodeStatus> ParseNodeStatus(std::string_view s);
Result<InstanceState> ParseInstanceState(std::string_view s);

}  // namespace berth::orchestrator
