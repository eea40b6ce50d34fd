#include "orchestrator/codec.h"

#include <fmt/core.h>

#include <charconv>
#include <vector>

#include "core/json.h"
#include "orchestrator/spec.h"

namespace berth::orchestrator {
namespace {

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    auto slash = s.find('/', start);
    out.push_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string Hex(uint64_t v) { return fmt::format("{:016x}", v); }

Result<uint64_t> FromHex(const Json& j, std::string_view what) {
  if (!j.is_string()) return Fail(ErrorCode::kInvalidArgument, std::string(what) + " must be hex");
  const auto& s = j.get_ref<const std::string&>();
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " must be hex");
  }
  return v;
}

Json ResourcesToJson(const Resources& r) {
  return {{"cpuMillis", r.cpu_millis}, {"memoryBytes", r.memory_bytes}, {"pids", r.pids}};
}

Resources ResourcesFromJson(const Json& j) {
  return {j.at("cpuMillis").get<int64_t>(), j.at("memoryBytes").get<int64_t>(),
          j.at("pids").get<int64_t>()};
}

// Runs `f` and turns nlohmann's type and missing-key exceptions into an error naming `what`.
template <typename F>
auto Decode(std::string_view json, std::string_view what, F&& f)
    -> decltype(f(std::declval<const Json&>())) {
  auto parsed = ParseJson(json);
  if (!parsed) return std::unexpected(Wrap(parsed.error(), what));
  try {
    return f(*parsed);
  } catch (const Json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {}", what, e.what()));
  }
}

}  // namespace

std::string AppKey(std::string_view ns, std::string_view app) {
  return fmt::format("{}{}/{}", kAppsPrefix, ns, app);
}

std::string NodeKey(std::string_view node) { return fmt::format("{}{}", kNodesPrefix, node); }

std::string AssignmentsPrefix(std::string_view node) {
  return fmt::format("{}{}/assignments/", kNodesPrefix, node);
}

std::string AssignmentKey(const Instance& i) {
  return fmt::format("{}{}/{}/{}", AssignmentsPrefix(i.node_id), i.ns, i.app, i.id);
}

std::string StatusKey(const Instance& i) {
  return fmt::format("{}{}/status/{}/{}/{}", kNodesPrefix, i.node_id, i.ns, i.app, i.id);
}

std::optional<NodeKeyParts> ParseNodeKey(std::string_view key) {
  if (!key.starts_with(kNodesPrefix)) return std::nullopt;
  auto parts = Split(key.substr(kNodesPrefix.size()));
  for (auto p : parts) {
    if (p.empty()) return std::nullopt;
  }
  NodeKeyParts out;
  out.node = parts[0];
  if (parts.size() == 1) return out;
  if (parts.size() != 5) return std::nullopt;
  if (parts[1] == "assignments") {
    out.kind = NodeKeyParts::Kind::kAssignment;
  } else if (parts[1] == "status") {
    out.kind = NodeKeyParts::Kind::kStatus;
  } else {
    return std::nullopt;
  }
  out.ns = parts[2];
  out.app = parts[3];
  out.instance = parts[4];
  return out;
}

Result<NodeStatus> ParseNodeStatus(std::string_view s) {
  for (auto v :
       {NodeStatus::kReady, NodeStatus::kDown, NodeStatus::kCordoned, NodeStatus::kDraining}) {
    if (ToString(v) == s) return v;
  }
  return Fail(ErrorCode::kInvalidArgument, fmt::format("unknown node status \"{}\"", s));
}

Result<InstanceState> ParseInstanceState(std::string_view s) {
  for (auto v : {InstanceState::kPending, InstanceState::kStarting, InstanceState::kReady,
                 InstanceState::kUnready, InstanceState::kStopping, InstanceState::kStopped,
                 InstanceState::kFailed}) {
    if (ToString(v) == s) return v;
  }
  return Fail(ErrorCode::kInvalidArgument, fmt::format("unknown instance state \"{}\"", s));
}

std::string NodeToJson(const Node& n) {
  Json j = {{"id", n.id},
            {"labels", n.labels},
            {"capacity", ResourcesToJson(n.capacity)},
            {"status", std::string(ToString(n.status))}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<Node> NodeFromJson(std::string_view json) {
  return Decode(json, "node", [](const Json& j) -> Result<Node> {
    Node n;
    n.id = j.at("id").get<std::string>();
    n.labels = j.at("labels").get<std::map<std::string, std::string>>();
    n.capacity = ResourcesFromJson(j.at("capacity"));
    auto st = ParseNodeStatus(j.at("status").get<std::string>());
    if (!st) return std::unexpected(st.error());
    n.status = *st;
    if (auto v = n.Validate(); !v) return std::unexpected(v.error());
    return n;
  });
}

std::string AssignmentToJson(const Assignment& a) {
  const Instance& i = a.instance;
  Json j = {{"instance",
             {{"id", i.id},
              {"namespace", i.ns},
              {"app", i.app},
              {"service", i.service},
              {"node", i.node_id},
              {"deployHash", Hex(i.deploy_hash)},
              {"specHash", Hex(i.spec_hash)},
              {"resources", ResourcesToJson(i.resources)},
              {"hostPorts", i.host_ports}}},
            {"spec", ServiceSpecToJson(a.spec)}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<Assignment> AssignmentFromJson(std::string_view json) {
  return Decode(json, "assignment", [](const Json& j) -> Result<Assignment> {
    Assignment a;
    const Json& i = j.at("instance");
    a.instance.id = i.at("id").get<std::string>();
    a.instance.ns = i.at("namespace").get<std::string>();
    a.instance.app = i.at("app").get<std::string>();
    a.instance.service = i.at("service").get<std::string>();
    a.instance.node_id = i.at("node").get<std::string>();
    auto dh = FromHex(i.at("deployHash"), "deployHash");
    if (!dh) return std::unexpected(dh.error());
    auto sh = FromHex(i.at("specHash"), "specHash");
    if (!sh) return std::unexpected(sh.error());
    a.instance.deploy_hash = *dh;
    a.instance.spec_hash = *sh;
    a.instance.resources = ResourcesFromJson(i.at("resources"));
    a.instance.host_ports = i.at("hostPorts").get<std::vector<int>>();
    auto spec = ServiceSpecFromJson(j.at("spec"));
    if (!spec) return std::unexpected(Wrap(spec.error(), "assignment spec"));
    a.spec = std::move(*spec);
    return a;
  });
}

std::string InstanceStatusToJson(const InstanceStatus& s) {
  Json j = {{"state", std::string(ToString(s.state))},
            {"readySinceMs", s.ready_since_ms},
            {"message", s.message}};
  if (s.cpu_millis >= 0) j["cpuMillis"] = s.cpu_millis;
  if (s.restarts > 0) j["restarts"] = s.restarts;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<InstanceStatus> InstanceStatusFromJson(std::string_view json) {
  return Decode(json, "instance status", [](const Json& j) -> Result<InstanceStatus> {
    InstanceStatus s;
    auto st = ParseInstanceState(j.at("state").get<std::string>());
    if (!st) return std::unexpected(st.error());
    s.state = *st;
    s.ready_since_ms = j.value("readySinceMs", int64_t{0});
    s.message = j.value("message", std::string());
    if (j.contains("cpuMillis")) {
      const Json& c = j.at("cpuMillis");
      if (!c.is_number_integer() || c.get<int64_t>() < 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    "instance status: cpuMillis must be a non-negative integer (millicores)");
      }
      s.cpu_millis = c.get<int64_t>();
    }
    s.restarts = j.value("restarts", int64_t{0});
    return s;
  });
}

}  // namespace berth::orchestrator
