#include "orchestrator/codec.h"

#include <fmt/core.h>

#include <charconv>
#include <vector>

#include "core/input.h"
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

}  // namespace

std::string HashToHex(uint64_t v) { return fmt::format("{:016x}", v); }

Result<uint64_t> ReadHexHash(const input::Node& n) {
  uint64_t v = 0;
  if (n.IsScalar() && n.style() == input::Node::Style::kJsonString) {
    const std::string& s = n.text();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  return n.Fail("must be a hex string, got " + n.Describe());
}

namespace {

Json ResourcesToJson(const Resources& r) {
  return {{"cpuMillis", r.cpu_millis}, {"memoryBytes", r.memory_bytes}, {"pids", r.pids}};
}

Result<Resources> ReadResources(const input::Node& n) {
  Resources r;
  input::Object o(n);
  const input::Int amount(0, INT64_MAX);
  o.Required("cpuMillis", r.cpu_millis, amount)
      .Required("memoryBytes", r.memory_bytes, amount)
      .Required("pids", r.pids, amount);
  BERTH_TRY(o.Done());
  return r;
}

// The error of a domain type's Validate() ("path: what"), at the node that path names.
Error At(const input::Node& root, const Error& e) {
  const auto colon = e.message.find(": ");
  if (colon == std::string::npos) return root.Invalid(e.message);
  const std::string path = e.message.substr(0, colon);
  const input::Node& at = root.Nearest(path);
  return at.InvalidAt(at.mark(), path, e.message.substr(colon + 2));
}

// One of `values` by its ToString name.
template <typename E>
Result<E> ReadNamed(const input::Node& n, std::initializer_list<E> values) {
  std::vector<std::string_view> names;
  for (E v : values) {
    if (n.IsScalar() && n.text() == ToString(v)) return v;
    names.push_back(ToString(v));
  }
  return n.Fail(input::MustBeOneOf(names, n));
}

Result<NodeStatus> ReadNodeStatus(const input::Node& n) {
  return ReadNamed(
      n, {NodeStatus::kReady, NodeStatus::kDown, NodeStatus::kCordoned, NodeStatus::kDraining});
}

Result<InstanceState> ReadInstanceState(const input::Node& n) {
  return ReadNamed(n, {InstanceState::kPending, InstanceState::kStarting, InstanceState::kReady,
                       InstanceState::kUnready, InstanceState::kStopping, InstanceState::kStopped,
                       InstanceState::kFailed});
}

// The fields of InstanceStatus in `o`.
void ReadStatusFields(input::Object& o, InstanceStatus& s) {
  o.Required("state", s.state, ReadInstanceState)
      .Optional("readySinceMs", s.ready_since_ms, input::Int(0, INT64_MAX, "wall-clock ms"))
      .Optional("message", s.message)
      .Optional("cpuMillis", s.cpu_millis,
                input::Int(0, INT64_MAX, "a non-negative integer (millicores)"))
      .Optional("restarts", s.restarts, input::Int(0, INT64_MAX));
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

std::string StatusKey(const Instance& i) { return StatusKey(i.node_id, i.ns, i.app, i.id); }

std::string StatusKey(std::string_view node, std::string_view ns, std::string_view app,
                      std::string_view instance) {
  return fmt::format("{}{}/status/{}/{}/{}", kNodesPrefix, node, ns, app, instance);
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

Json NodeToJsonValue(const Node& n) {
  return {{"id", n.id},
          {"labels", n.labels},
          {"capacity", ResourcesToJson(n.capacity)},
          {"status", std::string(ToString(n.status))}};
}

std::string NodeToJson(const Node& n) {
  return NodeToJsonValue(n).dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<Node> NodeFromJson(std::string_view json) {
  const input::Document doc = BERTH_TRY(input::ParseJson(json, "node"));
  Node n;
  input::Object o(doc.root());
  o.Required("id", n.id)
      .Required("labels", n.labels, input::MapOf(input::String))
      .Required("capacity", n.capacity, ReadResources)
      .Required("status", n.status, ReadNodeStatus)
      .Ignore({"address", "registeredMs"});  // the api's, beside ours (node_endpoints.cc)
  BERTH_TRY(o.Done());
  if (auto v = n.Validate(); !v) return std::unexpected(At(doc.root(), v.error()));
  return n;
}

std::string AssignmentToJson(const Assignment& a) {
  const Instance& i = a.instance;
  Json j = {{"instance",
             {{"id", i.id},
              {"namespace", i.ns},
              {"app", i.app},
              {"service", i.service},
              {"node", i.node_id},
              {"deployHash", HashToHex(i.deploy_hash)},
              {"specHash", HashToHex(i.spec_hash)},
              {"resources", ResourcesToJson(i.resources)},
              {"hostPorts", i.host_ports}}},
            {"spec", ServiceSpecToJson(a.spec)}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<Assignment> ReadAssignment(const input::Node& n) {
  Assignment a;
  Instance& i = a.instance;
  input::Object o(n);
  if (const input::Node* in = o.Take("instance")) {
    input::Object io(*in);
    io.Required("id", i.id)
        .Required("namespace", i.ns)
        .Required("app", i.app)
        .Required("service", i.service)
        .Required("node", i.node_id)
        .Required("deployHash", i.deploy_hash, ReadHexHash)
        .Required("specHash", i.spec_hash, ReadHexHash)
        .Required("resources", i.resources, ReadResources)
        .Required("hostPorts", i.host_ports, input::ListOf(input::Int(0, 65535)));
    o.Check(io.Done());
  } else {
    o.Fail(n.Invalid("\"instance\" is required"));
  }
  o.Required("spec", a.spec, ServiceSpecFromNode);
  BERTH_TRY(o.Done());
  return a;
}

Result<Assignment> AssignmentFromJson(std::string_view json) {
  const input::Document doc = BERTH_TRY(input::ParseJson(json, "assignment"));
  return ReadAssignment(doc.root());
}

Json InstanceStatusToJsonValue(const InstanceStatus& s) {
  Json j = {{"state", std::string(ToString(s.state))},
            {"readySinceMs", s.ready_since_ms},
            {"message", s.message}};
  if (s.cpu_millis >= 0) j["cpuMillis"] = s.cpu_millis;
  if (s.restarts > 0) j["restarts"] = s.restarts;
  return j;
}

std::string InstanceStatusToJson(const InstanceStatus& s) {
  return InstanceStatusToJsonValue(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string InstanceReportToJson(const InstanceReport& r) {
  Json j = InstanceStatusToJsonValue(r.status);
  if (!r.ip.empty()) j["ip"] = r.ip;
  if (!r.ports.empty()) {
    Json ports = Json::object();
    for (const auto& [container, host] : r.ports) ports[std::to_string(container)] = host;
    j["ports"] = std::move(ports);
  }
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<InstanceReport> ReadInstanceReport(const input::Node& n) {
  InstanceReport r;
  input::Object o(n);
  ReadStatusFields(o, r.status);
  o.Optional("ip", r.ip);
  if (const input::Node* ports = o.Take("ports")) {
    auto read = [&]() -> Result<void> {
      if (!ports->IsMap()) {
        return ports->Fail("must be an object {\"<containerPort>\": <hostPort>}");
      }
      for (const input::Entry& e : ports->entries()) {
        int container = 0;
        auto [p, ec] = std::from_chars(e.key.data(), e.key.data() + e.key.size(), container);
        auto host = input::Int(0, 65535)(*e.value);
        if (ec != std::errc() || p != e.key.data() + e.key.size() || container < 1 ||
            container > 65535 || !host) {
          return e.value->Fail("is not a container port (1..65535) with a host port (0..65535)");
        }
        r.ports[container] = static_cast<int>(*host);
      }
      return {};
    };
    o.Check(read());
  }
  BERTH_TRY(o.Done());
  return r;
}

Result<InstanceStatus> InstanceStatusFromJson(std::string_view json) {
  const input::Document doc = BERTH_TRY(input::ParseJson(json, "instance status"));
  InstanceReport r = BERTH_TRY(ReadInstanceReport(doc.root()));
  return r.status;
}

}  // namespace berth::orchestrator
