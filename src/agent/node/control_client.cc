#include "agent/node/control_client.h"

#include <fmt/core.h>

#include "core/input.h"
#include "core/json.h"
#include "core/log.h"
#include "orchestrator/codec.h"

namespace berth::agent::node {

namespace orch = berth::orchestrator;

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(3);
constexpr auto kRequestTimeout = std::chrono::seconds(15);
// The server writes a progress line every 5 s on an idle watch; silence this long means
// the connection is dead.
constexpr auto kWatchSilence = std::chrono::seconds(20);

ErrorCode CodeFor(int status, std::string_view name) {
  for (auto c :
       {ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied,
        ErrorCode::kNotFound, ErrorCode::kAlreadyExists, ErrorCode::kFailedPrecondition,
        ErrorCode::kCompacted, ErrorCode::kPayloadTooLarge, ErrorCode::kResourceExhausted,
        ErrorCode::kUnavailable, ErrorCode::kDeadlineExceeded, ErrorCode::kInternal}) {
    if (ErrorCodeName(c) == name) return c;
  }
  if (status == 404) return ErrorCode::kNotFound;
  if (status == 410) return ErrorCode::kCompacted;
  if (status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kInvalidArgument;
}

Error HttpError(int status, std::string_view body) {
  auto j = ParseJson(body);
  if (j && j->is_object() && j->contains("error") && (*j)["error"].is_object()) {
    const Json& e = (*j)["error"];
    return Error(CodeFor(status, e.value("code", "")),
                 fmt::format("HTTP {}: {}", status, e.value("message", "")));
  }
  return Error(CodeFor(status, ""), fmt::format("HTTP {}: {}", status, body.substr(0, 200)));
}

std::string PathPart(std::string_view s) {
  // Names are validated DNS labels on both sides; escape anything else defensively.
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::string InstancePath(const orch::Instance& in) {
  return fmt::format("/v1/nodes/{}/status/{}/{}/{}", PathPart(in.node_id), PathPart(in.ns),
                     PathPart(in.app), PathPart(in.id));
}

std::string RegistryPath(std::string_view ns, std::string_view service, std::string_view id) {
  return fmt::format("/v1/registry/{}/{}/{}", PathPart(ns), PathPart(service), PathPart(id));
}

}  // namespace

ControlClient::ControlClient(std::string server, std::string token, http::ClientOptions tls)
    : server_(http::WithSchemes(server)), token_(std::move(token)), tls_(std::move(tls)) {}

Result<std::string> ControlClient::Do(std::string_view method, const std::string& path,
                                      std::string body) {
  http::Headers h;
  h.Set("Authorization", "Bearer " + token_);
  if (!body.empty()) h.Set("Content-Type", "application/json");
  http::ClientOptions opts = tls_;
  opts.connect_timeout = kConnectTimeout;
  opts.timeout = kRequestTimeout;
  auto r = http::FetchFrom(server_, method, path, std::move(body), std::move(h), opts);
  if (!r) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("{} {}{}: {}", method, server_, path, r.error().message));
  }
  if (r->status < 200 || r->status >= 300) {
    return std::unexpected(Wrap(HttpError(r->status, r->body), fmt::format("{} {}", method, path)));
  }
  return std::move(r->body);
}

Result<int64_t> ControlClient::Register(const NodeRegistration& reg) {
  Json body = {{"labels", reg.labels},
               {"capacity",
                {{"cpu_millis", reg.capacity.cpu_millis},
                 {"memory_bytes", reg.capacity.memory_bytes},
                 {"pids", reg.capacity.pids}}},
               {"address", reg.address},
               {"ttl_seconds", reg.ttl_seconds}};
  auto r = Do("PUT", "/v1/nodes/" + PathPart(reg.node), body.dump());
  if (!r) return std::unexpected(r.error());
  auto j = ParseJson(*r);
  if (!j || !j->contains("lease") || !(*j)["lease"].is_number_integer()) {
    return Fail(ErrorCode::kInternal, "node registration answered without a lease: " + *r);
  }
  return (*j)["lease"].get<int64_t>();
}

Result<void> ControlClient::Heartbeat(const std::string& node, int64_t lease) {
  auto r = Do("POST", "/v1/nodes/" + PathPart(node) + "/heartbeat", Json{{"lease", lease}}.dump());
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<AssignmentList> ControlClient::ListAssignments(const std::string& node) {
  auto r = Do("GET", "/v1/nodes/" + PathPart(node) + "/assignments");
  if (!r) return std::unexpected(r.error());
  auto j = ParseJson(*r);
  if (!j || !j->is_object() || !(*j)["assignments"].is_array()) {
    return Fail(ErrorCode::kInternal, "assignment list is not {revision, assignments}");
  }
  AssignmentList out;
  out.revision = j->value("revision", int64_t{0});
  for (const auto& a : (*j)["assignments"]) {
    auto parsed = orch::ReadAssignment(input::FromJson(a, "assignment").root());
    if (!parsed) {
      log::Warn("node", "skipping an assignment that does not decode: {}", parsed.error().message);
      continue;
    }
    out.assignments.push_back(std::move(*parsed));
  }
  return out;
}

Result<void> ControlClient::StreamLines(const std::string& target, std::string_view what,
                                        const std::function<bool(const Json&)>& on_line) {
  http::ClientOptions opts = tls_;
  opts.connect_timeout = kConnectTimeout;
  opts.timeout = kWatchSilence;
  auto client = http::Client::Create(server_, opts);
  if (!client) return Fail(ErrorCode::kUnavailable, client.error().message);
  {
    std::lock_guard lock(mu_);
    if (shutdown_) return {};
    streaming_ = client->get();
  }
  http::Request req;
  req.method = "GET";
  req.target = target;
  req.headers.Set("Authorization", "Bearer " + token_);
  int status = 0;
  std::string buf;
  std::optional<Error> stream_error;
  bool stopped = false;
  auto r = (*client)->Stream(
      req, [&](const http::Response& head) { status = head.status; },
      [&](std::string_view data) {
        buf.append(data);
        if (status != 200) return buf.size() < 64 * 1024;
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          std::string line = buf.substr(0, nl);
          buf.erase(0, nl + 1);
          auto j = ParseJson(line);
          if (!j || !j->is_object()) {
            log::Warn("node", "{}: a line that is not JSON: {}", what, line.substr(0, 120));
            continue;
          }
          if (j->contains("error")) {
            const Json& e = (*j)["error"];
            stream_error = Error(CodeFor(0, e.value("code", "")), e.value("message", ""));
            return false;
          }
          if (!on_line(*j)) {
            stopped = true;
            return false;
          }
        }
        return true;
      });
  {
    std::lock_guard lock(mu_);
    streaming_ = nullptr;
  }
  if (stream_error) return std::unexpected(*stream_error);
  if (status != 0 && status != 200) return std::unexpected(HttpError(status, buf));
  if (!r && !stopped)
    return Fail(ErrorCode::kUnavailable, fmt::format("{}: {}", what, r.error().message));
  return {};
}

Result<void> ControlClient::WatchAssignments(
    const std::string& node, int64_t from_revision,
    const std::function<bool(AssignmentEvent&&)>& on_event) {
  return StreamLines(
      fmt::format("/v1/nodes/{}/assignments?watch=1&revision={}", PathPart(node), from_revision),
      "assignment watch", [&](const Json& j) {
        AssignmentEvent ev;
        std::string type = j.value("type", "");
        ev.revision = j.value("revision", int64_t{0});
        ev.key = j.value("key", "");
        if (type == "put") {
          ev.type = AssignmentEvent::Type::kPut;
          auto a = orch::ReadAssignment(input::FromJson(j["assignment"], ev.key).root());
          if (!a) {
            log::Warn("node", "assignment {} does not decode: {}", ev.key, a.error().message);
            return true;
          }
          ev.assignment = std::move(*a);
        } else if (type == "delete") {
          ev.type = AssignmentEvent::Type::kDelete;
        } else {
          ev.type = AssignmentEvent::Type::kProgress;
        }
        return on_event(std::move(ev));
      });
}

Result<CheckList> ControlClient::ListChecks(const std::string& node) {
  auto r = Do("GET", "/v1/nodes/" + PathPart(node) + "/checks");
  if (!r) return std::unexpected(r.error());
  auto j = ParseJson(*r);
  if (!j || !j->is_object() || !(*j)["instances"].is_array()) {
    return Fail(ErrorCode::kInternal, "check list is not {revision, instances}");
  }
  CheckList out;
  out.revision = j->value("revision", int64_t{0});
  for (const auto& in : (*j)["instances"]) {
    auto parsed = registry::ReadReported(input::FromJson(in, "instance").root());
    if (!parsed) {
      log::Warn("node", "skipping a check that does not decode: {}", parsed.error().message);
      continue;
    }
    out.instances.push_back(std::move(*parsed));
  }
  return out;
}

Result<void> ControlClient::WatchChecks(const std::string& node, int64_t from_revision,
                                        const std::function<bool(CheckEvent&&)>& on_event) {
  return StreamLines(
      fmt::format("/v1/nodes/{}/checks?watch=1&revision={}", PathPart(node), from_revision),
      "check watch", [&](const Json& j) {
        CheckEvent ev;
        std::string type = j.value("type", "");
        ev.revision = j.value("revision", int64_t{0});
        if (type == "put") {
          auto in = registry::ReadReported(input::FromJson(j["instance"], "instance").root());
          if (!in) {
            log::Warn("node", "check does not decode: {}", in.error().message);
            return true;
          }
          ev.type = CheckEvent::Type::kPut;
          ev.key = registry::InstanceKey(in->ns, in->service, in->id);
          ev.instance = std::move(*in);
        } else if (type == "delete") {
          ev.type = CheckEvent::Type::kDelete;
          ev.key = registry::InstanceKey(j.value("namespace", ""), j.value("service", ""),
                                         j.value("id", ""));
        } else {
          ev.type = CheckEvent::Type::kProgress;
        }
        return on_event(std::move(ev));
      });
}

Result<void> ControlClient::ReportHealth(const std::string& ns, const std::string& service,
                                         const std::string& id, registry::Health status,
                                         const std::string& output) {
  std::string out = output.substr(0, registry::kMaxHealthOutputBytes);
  auto r = Do("PUT", RegistryPath(ns, service, id) + "/health",
              Json{{"status", registry::HealthName(status)}, {"output", out}}.dump());
  if (!r) return std::unexpected(r.error());
  return {};
}

void ControlClient::Shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  if (streaming_) streaming_->Shutdown();
}

Result<void> ControlClient::PutStatus(const orch::Instance& in, const StatusReport& report) {
  Json j = orch::InstanceStatusToJsonValue(report.status);
  if (!report.ip.empty()) j["ip"] = report.ip;
  if (!report.ports.empty()) {
    Json ports = Json::object();
    for (const auto& [c, h] : report.ports) ports[std::to_string(c)] = h;
    j["ports"] = std::move(ports);
  }
  if (no_cpu_field_.load()) j.erase("cpuMillis");
  auto r = Do("PUT", InstancePath(in), j.dump());
  if (!r && r.error().code == ErrorCode::kInvalidArgument && j.contains("cpuMillis") &&
      r.error().message.find("cpuMillis") != std::string::npos) {
    // A control plane older than CPU reports refuses the field: stop sending it.
    no_cpu_field_ = true;
    j.erase("cpuMillis");
    r = Do("PUT", InstancePath(in), j.dump());
  }
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> ControlClient::DeleteStatus(const orch::Instance& in) {
  auto r = Do("DELETE", InstancePath(in));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> ControlClient::RegisterInstance(const RegistryEntry& e) {
  Json body = {{"address", e.address},
               {"port", e.port},
               {"tags", e.tags},
               {"metadata", e.metadata},
               {"ttl", fmt::format("{}s", e.ttl_seconds)}};
  auto r = Do("PUT", RegistryPath(e.ns, e.service, e.id), body.dump());
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> ControlClient::HeartbeatInstance(const std::string& ns, const std::string& service,
                                              const std::string& id) {
  auto r = Do("PUT", RegistryPath(ns, service, id) + "/heartbeat");
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> ControlClient::DeregisterInstance(const std::string& ns, const std::string& service,
                                               const std::string& id) {
  auto r = Do("DELETE", RegistryPath(ns, service, id));
  if (!r && r.error().code != ErrorCode::kNotFound) return std::unexpected(r.error());
  return {};
}

}  // namespace berth::agent::node
