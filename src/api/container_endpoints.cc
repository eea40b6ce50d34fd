#include "api/container_endpoints.h"

#include <fmt/core.h>

#include <chrono>
#include <map>
#include <thread>

#include "api/admission_endpoints.h"
#include "core/try.h"
#include "core/units.h"
#include "security/tokens.h"

namespace berth::api {
namespace {

using security::Role;

Result<std::vector<std::string>> Strings(const Json& body, const char* key) {
  std::vector<std::string> out;
  if (!body.contains(key)) return out;
  const Json& v = body[key];
  if (!v.is_array())
    return Fail(ErrorCode::kInvalidArgument,
                std::string("\"") + key + "\" must be a list of strings");
  for (const auto& s : v) {
    if (!s.is_string())
      return Fail(ErrorCode::kInvalidArgument,
                  std::string("\"") + key + "\" must be a list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// A byte size: a JSON integer, or a string in core's one grammar ("64m", "512Mi").
Result<int64_t> Size(const Json& v, const char* what) {
  if (v.is_number_integer()) {
    if (v.get<int64_t>() < 0)
      return Fail(ErrorCode::kInvalidArgument, std::string(what) + " must not be negative");
    return v.get<int64_t>();
  }
  if (!v.is_string())
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " must be a number or \"64m\"");
  return BERTH_TRY_WRAP(ParseBytes(v.get<std::string>()), what);
}

// Runs `work` on its own thread so the HTTP worker is free meanwhile.
void Async(std::shared_ptr<Call> call, std::function<void(std::shared_ptr<Call>)> work) {
  std::thread([call, work = std::move(work)] { work(call); }).detach();
}

}  // namespace

namespace {
Result<agent::RunSpec> RunSpecFromJsonUnchecked(const Json& b, bool admin);
}  // namespace

Result<agent::RunSpec> RunSpecFromJson(const Json& b, bool admin) {
  try {
    return RunSpecFromJsonUnchecked(b, admin);
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("run body: a field has the wrong type: ") + e.what());
  }
}

namespace {
Result<agent::RunSpec> RunSpecFromJsonUnchecked(const Json& b, bool admin) {
  if (auto ok = RejectUnknownFields(
          b, {"name",      "namespace",   "image",    "entrypoint", "cmd",     "env",
              "user",      "working_dir", "hostname", "memory",     "cpus",    "pids",
              "read_only", "privileged",  "cap_add",  "cap_drop",   "network", "ports",
              "restart",   "backoff",     "nofile",   "userns"},
          "run body");
      !ok)
    return std::unexpected(ok.error());
  agent::RunSpec s;
  if (!b.contains("image") || !b["image"].is_string() || b["image"].get<std::string>().empty())
    return Fail(ErrorCode::kInvalidArgument, "run body needs \"image\"");
  s.image = b["image"];
  s.name = b.value("name", "");
  s.ns = b.value("namespace", "default");
  if (auto v = security::ValidateNamespaceName(s.ns); !v) return std::unexpected(v.error());
  s.user = b.value("user", "");
  s.working_dir = b.value("working_dir", "");
  s.hostname = b.value("hostname", "");
  for (auto [key, out] :
       {std::pair{"entrypoint", &s.entrypoint}, {"cmd", &s.cmd}, {"env", &s.env}}) {
    auto v = Strings(b, key);
    if (!v) return std::unexpected(v.error());
    *out = *v;
  }
  for (const auto& kv : s.env)
    if (kv.find('=') == std::string::npos || kv.front() == '=')
      return Fail(ErrorCode::kInvalidArgument, "env \"" + kv + "\" is not K=V");
  if (b.contains("memory")) {
    auto m = Size(b["memory"], "memory");
    if (!m) return std::unexpected(m.error());
    if (*m > 0 && *m < (4 << 20))
      return Fail(ErrorCode::kInvalidArgument, "memory below 4m is too small to start");
    s.resources.memory_bytes = *m;
  }
  if (b.contains("cpus")) {
    if (!b["cpus"].is_number() || b["cpus"].get<double>() < 0)
      return Fail(ErrorCode::kInvalidArgument, "cpus must be a positive number");
    s.resources.cpus = b["cpus"];
  }
  if (b.contains("pids")) {
    if (!b["pids"].is_number_integer() || b["pids"].get<int64_t>() < 0)
      return Fail(ErrorCode::kInvalidArgument, "pids must be a positive integer");
    s.resources.pids = b["pids"];
  }
  s.security.read_only_rootfs = b.value("read_only", false);
  s.security.privileged = b.value("privileged", false);
  auto add = Strings(b, "cap_add");
  auto drop = Strings(b, "cap_drop");
  if (!add || !drop) return std::unexpected(!add ? add.error() : drop.error());
  s.security.cap_add = *add;
  s.security.cap_drop = *drop;
  if ((s.security.privileged || !s.security.cap_add.empty()) && !admin)
    return Fail(ErrorCode::kPermissionDenied,
                "privileged containers and added capabilities need the admin role");
  if (b.value("userns", false)) {
    s.security.uid_map = agent::runtime::IdMapping{0, 100000, 65536};
    s.security.gid_map = s.security.uid_map;
  }
  auto net = agent::ParseNetworkMode(b.value("network", "bridge"));
  if (!net) return std::unexpected(net.error());
  s.network = *net;
  if (b.contains("ports")) {
    auto ports = Strings(b, "ports");
    if (!ports) return std::unexpected(ports.error());
    for (const auto& p : *ports) {
      // "HOSTPORT:PORT[/tcp|udp]" or "IP:HOSTPORT:PORT"
      std::string spec = p, proto = "tcp", ip = "127.0.0.1";
      if (auto slash = spec.find('/'); slash != std::string::npos) {
        proto = spec.substr(slash + 1);
        spec.resize(slash);
      }
      size_t c2 = spec.rfind(':');
      size_t c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : spec.rfind(':', c2 - 1);
      if (c1 != std::string::npos) {
        ip = spec.substr(0, c1);
        spec = spec.substr(c1 + 1);
        c2 = spec.rfind(':');
      }
      int hp = 0, cp = 0;
      try {
        if (c2 == std::string::npos) throw std::invalid_argument(p);
        hp = std::stoi(spec.substr(0, c2));
        cp = std::stoi(spec.substr(c2 + 1));
      } catch (...) {
        hp = 0;
      }
      if (hp < 1 || hp > 65535 || cp < 1 || cp > 65535 || (proto != "tcp" && proto != "udp"))
        return Fail(ErrorCode::kInvalidArgument,
                    "port \"" + p + "\" is not HOSTPORT:PORT[/tcp|udp]");
      s.ports.push_back({static_cast<uint16_t>(hp), static_cast<uint16_t>(cp), proto, ip});
    }
  }
  auto restart = agent::ParseRestartPolicy(b.value("restart", "never"));
  if (!restart) return std::unexpected(restart.error());
  s.restart = *restart;
  if (b.contains("backoff")) {
    const Json& k = b["backoff"];
    if (!k.is_object()) return Fail(ErrorCode::kInvalidArgument, "backoff must be an object");
    s.backoff.initial = std::chrono::milliseconds(k.value("initial_ms", int64_t{1000}));
    s.backoff.factor = k.value("factor", 2.0);
    s.backoff.cap = std::chrono::milliseconds(k.value("cap_ms", int64_t{60000}));
    s.backoff.reset_after = std::chrono::milliseconds(k.value("reset_after_ms", int64_t{30000}));
    if (s.backoff.initial.count() <= 0 || s.backoff.factor < 1 || s.backoff.cap < s.backoff.initial)
      return Fail(ErrorCode::kInvalidArgument,
                  "backoff needs initial_ms > 0, factor >= 1, cap_ms >= initial_ms");
  }
  s.nofile = b.value("nofile", uint64_t{1024});
  return s;
}
}  // namespace

Json ContainerJson(const agent::ContainerInfo& c) {
  Json ports = Json::array();
  for (const auto& p : c.ports)
    ports.push_back(p.host_ip + ":" + std::to_string(p.host_port) + "->" +
                    std::to_string(p.container_port) + "/" + p.protocol);
  return {{"id", c.id},
          {"name", c.name},
          {"namespace", c.ns},
          {"image", c.image},
          {"image_id", c.image_id},
          {"status", agent::ContainerStatusName(c.status)},
          {"pid", c.pid},
          {"created_ms", c.created_ms},
          {"started_ms", c.started_ms},
          {"finished_ms", c.finished_ms},
          {"exit_code", c.exit_code},
          {"exit_signal", c.exit_signal},
          {"oom_killed", c.oom_killed},
          {"error", c.error},
          {"restart_policy", agent::RestartPolicyName(c.restart)},
          {"restart_count", c.restart_count},
          {"next_restart_in_ms", c.next_restart_in_ms},
          {"ip", c.ip},
          {"ports", ports}};
}

Result<std::string> ContainerNamespace(agent::Agent& agent, const Call& call) {
  auto c = agent.Inspect(call.Param("name"));
  if (!c) return std::unexpected(c.error());
  return c->ns;
}

namespace {

// {ref...} keeps the path's leading slash (it was made for KV keys): "/team/app:1".
std::string ImageRefParam(Call& call) {
  std::string ref = call.Param("ref");
  if (ref.starts_with('/')) ref.erase(0, 1);
  return ref;
}

// Tells `on_image` (when set) every name of an image imported, built or pulled.
using ImageAdded = std::function<void(const agent::image::Image&)>;

Json LogLineJson(const agent::LogLine& l) {
  return Json{{"time", l.time}, {"stream", l.stream}, {"text", l.text}};
}

// POST /v1/containers: a run, judged by the namespace's admission policy.
void RunContainer(agent::Agent& agent, security::admission::AdmissionController* admission,
                  std::shared_ptr<Call> call) {
  auto body = call->JsonBody();
  if (!body) return call->ReplyError(body.error());
  auto spec = RunSpecFromJson(*body, call->principal().role == Role::kAdmin);
  if (!spec) return call->ReplyError(spec.error());
  if (!call->Authorize(spec->ns, Role::kOperator)) return;
  security::admission::Container c{
      .name = spec->name.empty() ? "(unnamed)" : spec->name,
      .image = spec->image,
      .privileged = spec->security.privileged,
      .host_network = spec->network == agent::runtime::NetworkMode::kHost,
      .cap_add = spec->security.cap_add,
      .user = spec->user,
      .read_only_rootfs = spec->security.read_only_rootfs};
  if (!Admit(*call, admission, spec->ns, fmt::format("container {}/{}", spec->ns, c.name), {c},
             false, nullptr)) {
    return;
  }
  Async(call, [&agent, spec = *spec](std::shared_ptr<Call> c) {
    auto r = agent.Run(spec);
    if (!r) return c->ReplyError(r.error());
    c->Reply(201, ContainerJson(*r));
  });
}

// POST /v1/containers/{name}/stop {"grace_ms"}.
void StopContainer(agent::Agent& agent, std::shared_ptr<Call> call) {
  auto body = call->JsonBody(/*allow_empty=*/true);
  if (!body) return call->ReplyError(body.error());
  if (body->contains("grace_ms") && !(*body)["grace_ms"].is_number_integer())
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "grace_ms must be an integer"));
  int64_t grace = body->value("grace_ms", int64_t{10000});
  if (grace < 0 || grace > 600000)
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "grace_ms must be 0..600000"));
  Async(call, [&agent, grace](std::shared_ptr<Call> c) {
    auto r = agent.Stop(c->Param("name"), std::chrono::milliseconds(grace));
    if (!r) return c->ReplyError(r.error());
    c->Reply(200, ContainerJson(*r));
  });
}

// Follows a container's log after `last_time`: re-reads and sends newer lines until the
// client goes or the container is gone for good.
void FollowLogs(agent::Agent& agent, std::shared_ptr<Call> c, std::string last_time) {
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto all = agent.Logs(c->Param("name"), 1000);
    if (!all) break;
    for (const auto& l : *all) {
      if (l.time <= last_time) continue;
      if (!c->StreamLine(LogLineJson(l))) return;
      last_time = l.time;
    }
    auto info = agent.Inspect(c->Param("name"));
    if (!info || info->status == agent::ContainerStatus::kExited) break;
  }
  c->EndStream();
}

// GET /v1/containers/{name}/logs[?tail=N&follow]: JSON lines.
void StreamLogs(agent::Agent& agent, std::shared_ptr<Call> call) {
  auto tail = call->QueryInt("tail", 0);
  if (!tail) return call->ReplyError(tail.error());
  auto lines = agent.Logs(call->Param("name"), static_cast<size_t>(std::max<int64_t>(0, *tail)));
  if (!lines) return call->ReplyError(lines.error());
  bool follow = call->QueryFlag("follow");
  call->StartStream();
  std::string last_time;
  for (const auto& l : *lines) {
    call->StreamLine(LogLineJson(l));
    last_time = l.time;
  }
  if (!follow) return call->EndStream();
  Async(call, [&agent, last_time](std::shared_ptr<Call> c) { FollowLogs(agent, c, last_time); });
}

// POST /v1/containers/{name}/exec {"cmd": [...], "timeout_ms"}: a command killed past its
// timeout (0, the default: none) answers exit_code -1 and "timed_out": true.
void ExecInContainer(agent::Agent& agent, std::shared_ptr<Call> call) {
  auto body = call->JsonBody();
  if (!body) return call->ReplyError(body.error());
  if (auto ok = RejectUnknownFields(*body, {"cmd", "timeout_ms"}, "exec body"); !ok)
    return call->ReplyError(ok.error());
  auto cmd = Strings(*body, "cmd");
  if (!cmd) return call->ReplyError(cmd.error());
  if (cmd->empty())
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "exec needs \"cmd\""));
  if (body->contains("timeout_ms") && !(*body)["timeout_ms"].is_number_integer())
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "timeout_ms must be an integer"));
  const int64_t timeout = body->value("timeout_ms", int64_t{0});
  if (timeout < 0 || timeout > 86400000)
    return call->ReplyError(
        Error(ErrorCode::kInvalidArgument, "timeout_ms must be 0 (none)..86400000"));
  Async(call, [&agent, cmd = *cmd, timeout](std::shared_ptr<Call> c) {
    auto r = agent.Exec(c->Param("name"), cmd, {.timeout = std::chrono::milliseconds(timeout)});
    if (!r) return c->ReplyError(r.error());
    Json out{{"exit_code", r->exit_code}, {"stdout", r->out}, {"stderr", r->err}};
    if (r->timed_out) {
      // Killed: runc reports 137 or nothing depending on which process the kill reached
      // first; the API answers one value.
      out["exit_code"] = -1;
      out["timed_out"] = true;
    }
    c->Reply(200, out);
  });
}

// Run, list, inspect, stop, start, remove.
void RegisterContainerLifecycle(Router& router, agent::Agent& agent,
                                security::admission::AdmissionController* admission) {
  auto container_ns = [&agent](const Call& call) { return ContainerNamespace(agent, call); };
  router.Add({.method = "POST",
              .pattern = "/v1/containers",
              .access = Access::kHandler,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&agent, admission](std::shared_ptr<Call> call) {
                RunContainer(agent, admission, std::move(call));
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/containers",
              .access = Access::kList,
              .handler = [&agent](std::shared_ptr<Call> call) {
                Json items = Json::array();
                for (const auto& c : agent.List(call->QueryFlag("all"))) {
                  if (call->MayRead(c.ns)) items.push_back(ContainerJson(c));
                }
                call->Reply(200, Json{{"containers", items}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/containers/{name}",
              .access = Access::kNamespace,
              .namespace_of = container_ns,
              .handler = [&agent](std::shared_ptr<Call> call) {
                auto c = agent.Inspect(call->Param("name"));
                if (!c) return call->ReplyError(c.error());
                call->Reply(200, ContainerJson(*c));
              }});
  router.Add(
      {.method = "POST",
       .pattern = "/v1/containers/{name}/stop",
       .access = Access::kNamespace,
       .min_role = Role::kOperator,
       .mutating = true,
       .namespace_of = container_ns,
       .handler = [&agent](std::shared_ptr<Call> call) { StopContainer(agent, std::move(call)); }});
  router.Add({.method = "POST",
              .pattern = "/v1/containers/{name}/start",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .namespace_of = container_ns,
              .handler = [&agent](std::shared_ptr<Call> call) {
                Async(call, [&agent](std::shared_ptr<Call> c) {
                  auto r = agent.Start(c->Param("name"));
                  if (!r) return c->ReplyError(r.error());
                  c->Reply(200, ContainerJson(*r));
                });
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/containers/{name}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .namespace_of = container_ns,
              .handler = [&agent](std::shared_ptr<Call> call) {
                Async(call, [&agent](std::shared_ptr<Call> c) {
                  auto r = agent.Remove(c->Param("name"), c->QueryFlag("force"));
                  if (!r) return c->ReplyError(r.error());
                  c->Reply(200, Json{{"name", c->Param("name")}, {"removed", true}});
                });
              }});
}

// Logs and exec.
void RegisterContainerIo(Router& router, agent::Agent& agent) {
  auto container_ns = [&agent](const Call& call) { return ContainerNamespace(agent, call); };
  router.Add(
      {.method = "GET",
       .pattern = "/v1/containers/{name}/logs",
       .access = Access::kNamespace,
       .namespace_of = container_ns,
       .handler = [&agent](std::shared_ptr<Call> call) { StreamLogs(agent, std::move(call)); }});
  router.Add({.method = "POST",
              .pattern = "/v1/containers/{name}/exec",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .namespace_of = container_ns,
              .handler = [&agent](std::shared_ptr<Call> call) {
                ExecInContainer(agent, std::move(call));
              }});
}

// Fails naming the first of `keys` in `body` that is not a string.
Result<void> StringFields(const Json& body, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (body.contains(k) && !body[k].is_string())
      return Fail(ErrorCode::kInvalidArgument, std::string(k) + " must be a string");
  }
  return {};
}

// POST /v1/images/import {"path"}.
void ImportImage(agent::image::ImageStore& images, const ImageAdded& added,
                 std::shared_ptr<Call> call) {
  auto body = call->JsonBody();
  if (!body) return call->ReplyError(body.error());
  if (auto ok = StringFields(*body, {"path"}); !ok) return call->ReplyError(ok.error());
  std::string path = body->value("path", "");
  if (path.empty() || path.front() != '/')
    return call->ReplyError(
        Error(ErrorCode::kInvalidArgument, "import needs an absolute \"path\" on the node"));
  Async(call, [&images, path, added](std::shared_ptr<Call> c) {
    auto r = images.Import(path);
    if (!r) return c->ReplyError(r.error());
    Json items = Json::array();
    for (const auto& im : *r) {
      items.push_back(agent::image::ImageToJson(im));
      added(im);
    }
    c->Reply(201, Json{{"images", items}});
  });
}

// POST /v1/images/build {"dir","name","entrypoint","cmd","env","user","working_dir"}.
void BuildImage(agent::image::ImageStore& images, const ImageAdded& added,
                std::shared_ptr<Call> call) {
  auto body = call->JsonBody();
  if (!body) return call->ReplyError(body.error());
  if (auto ok = StringFields(*body, {"dir", "name", "user", "working_dir"}); !ok)
    return call->ReplyError(ok.error());
  agent::image::BuildOptions o;
  std::string dir = body->value("dir", "");
  o.name = body->value("name", "");
  o.user = body->value("user", "");
  o.working_dir = body->value("working_dir", "");
  for (auto [key, out] :
       {std::pair{"entrypoint", &o.entrypoint}, {"cmd", &o.cmd}, {"env", &o.env}}) {
    auto v = Strings(*body, key);
    if (!v) return call->ReplyError(v.error());
    *out = *v;
  }
  if (dir.empty() || dir.front() != '/')
    return call->ReplyError(
        Error(ErrorCode::kInvalidArgument, "build needs an absolute \"dir\" on the node"));
  Async(call, [&images, dir, o, added](std::shared_ptr<Call> c) {
    auto r = images.Build(dir, o);
    if (!r) return c->ReplyError(r.error());
    added(*r);
    c->Reply(201, agent::image::ImageToJson(*r));
  });
}

// A pull that streams its progress: JSON lines {"progress":{digest,done,total}} (each blob
// at most every 100 ms, and when it completes), then {"image":...} or {"error":...}.
void PullWithProgress(agent::image::Puller& puller, const ImageAdded& added,
                      std::shared_ptr<Call> call, std::string ref, agent::image::PullOptions o) {
  call->StartStream();
  Async(call, [&puller, ref, o, added](std::shared_ptr<Call> c) mutable {
    std::map<std::string, std::chrono::steady_clock::time_point> last;
    o.on_progress = [&](const agent::image::PullProgress& p) {
      auto now = std::chrono::steady_clock::now();
      auto it = last.find(p.digest);
      bool complete = p.total > 0 && p.done >= p.total;
      if (!complete && it != last.end() && now - it->second < std::chrono::milliseconds(100))
        return;
      last[p.digest] = now;
      c->StreamLine(
          Json{{"progress", {{"digest", p.digest}, {"done", p.done}, {"total", p.total}}}});
    };
    auto r = puller.Pull(ref, o);
    if (!r) return c->EndStreamWithError(r.error());
    added(*r);
    c->StreamLine(Json{{"image", agent::image::ImageToJson(*r)}});
    c->EndStream();
  });
}

// POST /v1/images/pull {"ref","plain_http","tls_verify","username","password","progress"}.
void PullImage(agent::image::Puller& puller, const ImageAdded& added, std::shared_ptr<Call> call) {
  auto body = call->JsonBody();
  if (!body) return call->ReplyError(body.error());
  if (auto ok = StringFields(*body, {"ref", "username", "password"}); !ok)
    return call->ReplyError(ok.error());
  for (const char* k : {"plain_http", "tls_verify", "progress"})
    if (body->contains(k) && !(*body)[k].is_boolean())
      return call->ReplyError(
          Error(ErrorCode::kInvalidArgument, std::string(k) + " must be true or false"));
  std::string ref = body->value("ref", "");
  if (ref.empty())
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "pull needs \"ref\""));
  agent::image::PullOptions o;
  o.plain_http = body->value("plain_http", false);
  o.tls_verify = body->value("tls_verify", true);
  o.username = body->value("username", "");
  o.password = body->value("password", "");
  if (body->value("progress", false)) {
    return PullWithProgress(puller, added, std::move(call), std::move(ref), std::move(o));
  }
  Async(call, [&puller, ref, o, added](std::shared_ptr<Call> c) {
    auto r = puller.Pull(ref, o);
    if (!r) return c->ReplyError(r.error());
    added(*r);
    c->Reply(201, agent::image::ImageToJson(*r));
  });
}

// List, inspect, remove, import, build, pull.
void RegisterImageEndpoints(Router& router, agent::Agent& agent, agent::image::ImageStore& images,
                            agent::image::Puller& puller, ImageAdded added) {
  router.Add(
      {.method = "GET",
       .pattern = "/v1/images",
       .access = Access::kList,  // images belong to no namespace: any token with a role sees them
       .handler = [&images](std::shared_ptr<Call> call) {
         Json items = Json::array();
         for (const auto& im : images.List()) items.push_back(agent::image::ImageToJson(im));
         call->Reply(200, Json{{"images", items}});
       }});
  router.Add({.method = "GET",
              .pattern = "/v1/images/{ref...}",
              .access = Access::kList,
              .handler = [&images](std::shared_ptr<Call> call) {
                auto im = images.Inspect(ImageRefParam(*call));
                if (!im) return call->ReplyError(im.error());
                call->Reply(200, agent::image::ImageToJson(*im));
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/images/{ref...}",
              .access = Access::kCluster,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&agent](std::shared_ptr<Call> call) {
                const std::string ref = ImageRefParam(*call);
                auto r = agent.RemoveImage(ref);
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"ref", ref}, {"removed", true}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/images/import",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&images, added](std::shared_ptr<Call> call) {
                ImportImage(images, added, std::move(call));
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/images/build",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&images, added](std::shared_ptr<Call> call) {
                BuildImage(images, added, std::move(call));
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/images/pull",
              .access = Access::kCluster,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&puller, added](std::shared_ptr<Call> call) {
                PullImage(puller, added, std::move(call));
              }});
}

}  // namespace

void RegisterContainerEndpoints(Router& router, agent::Agent& agent,
                                agent::image::ImageStore& images, agent::image::Puller& puller,
                                std::function<void(const std::string&)> on_image,
                                security::admission::AdmissionController* admission) {
  RegisterContainerLifecycle(router, agent, admission);
  RegisterContainerIo(router, agent);
  RegisterImageEndpoints(router, agent, images, puller, [on_image](const agent::image::Image& im) {
    if (!on_image) return;
    for (const auto& name : im.names) on_image(name);
  });
}

}  // namespace berth::api
