// The orchestrator's store keys and the JSON of what it keeps under them, other than apps
// (spec.h). Key layout (see README.md):
//   /apps/<ns>/<app>                                  App          (api writes)
//   /nodes/<node>                                     Node         (agent writes, under its lease)
//   /nodes/<node>/assignments/<ns>/<app>/<instance>   Assignment   (reconciler writes)
//   /nodes/<node>/status/<ns>/<app>/<instance>        InstanceStatus (agent writes)
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/input.h"
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
std::string StatusKey(std::string_view node, std::string_view ns, std::string_view app,
                      std::string_view instance);

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

// What an agent reports for an instance (PUT /v1/nodes/{node}/instances/...): the status,
// and where it can be reached. The stored status value is this report.
struct InstanceReport {
  InstanceStatus status;
  std::string ip;            // the container's address; empty: not known (yet)
  std::map<int, int> ports;  // container port -> host port
};

// A deploy or spec hash as stored: 16 hex digits.
std::string HashToHex(uint64_t hash);
Result<uint64_t> ReadHexHash(const input::Node& node);

std::string NodeToJson(const Node& node);  // id, labels, capacity, status (not allocations)
nlohmann::json NodeToJsonValue(const Node& node);
Result<Node> NodeFromJson(std::string_view json);
std::string AssignmentToJson(const Assignment& assignment);
Result<Assignment> AssignmentFromJson(std::string_view json);
// One assignment of an already parsed document (a list the api answered with).
Result<Assignment> ReadAssignment(const input::Node& node);
std::string InstanceStatusToJson(const InstanceStatus& status);
nlohmann::json InstanceStatusToJsonValue(const InstanceStatus& status);
// The status of a stored report (or of InstanceStatusToJson's text).
Result<InstanceStatus> InstanceStatusFromJson(std::string_view json);
// A report as an agent sends it and the api stores it: the status fields plus "ip" and
// "ports" ({"<containerPort>": hostPort}).
std::string InstanceReportToJson(const InstanceReport& report);
Result<InstanceReport> ReadInstanceReport(const input::Node& node);

Result<NodeStatus> ParseNodeStatus(std::string_view s);
Result<InstanceState> ParseInstanceState(std::string_view s);

}  // namespace berth::orchestrator
