#include "api/app_endpoints.h"

#include "api/admission_endpoints.h"

#include <fmt/core.h>

#include <map>

#include "core/json.h"
#include "orchestrator/app_store.h"
#include "orchestrator/codec.h"
#include "orchestrator/spec.h"

namespace berth::api {
namespace {

namespace orch = berth::orchestrator;
using security::Role;

struct InstanceView {
  orch::Instance instance;
  Json status;  // the agent's report as stored (state, message, ip, ports, ...); null: none
};

// Every assigned instance with its reported status, by "ns/app".
Result<std::map<std::string, std::vector<InstanceView>>> LoadInstances(store::Store& store,
                                                                       std::string_view only_ns,
                                                                       std::string_view only_app) {
  auto r = store.Get(orch::kNodesPrefix, {.prefix = true});
  if (!r) return std::unexpected(r.error());
  std::map<std::string, std::vector<InstanceView>> out;
  std::map<std::string, Json> statuses;
  for (const auto& kv : r->kvs) {
    auto parts = orch::ParseNodeKey(kv.key);
    if (!parts || parts->kind == orch::NodeKeyParts::Kind::kNode) continue;
    if (!only_ns.empty() && parts->ns != only_ns) continue;
    if (!only_app.empty() && parts->app != only_app) continue;
    if (parts->kind == orch::NodeKeyParts::Kind::kStatus) {
      auto j = ParseJson(kv.value);
      if (j && j->is_object()) statuses[kv.key] = std::move(*j);
      continue;
    }
    auto a = orch::AssignmentFromJson(kv.value);
    if (!a) continue;
    out[a->instance.ns + "/" + a->instance.app].push_back({std::move(a->instance), nullptr});
  }
  for (auto& [_, list] : out) {
    for (auto& v : list) {
      if (auto it = statuses.find(orch::StatusKey(v.instance)); it != statuses.end()) {
        v.status = it->second;
      }
    }
  }
  return out;
}

Json ParseOr(std::string_view text, Json fallback) {
  auto j = ParseJson(text);
  return j ? *j : fallback;
}

std::string StateOf(const InstanceView& v) {
  if (v.status.is_object()) return v.status.value("state", std::string("pending"));
  return "pending";
}

// One service's counts, instances, unschedulable reason and rollout record.
Json ServiceJson(const orch::ServiceSpec& spec, const std::vector<InstanceView>& instances,
                 const Json& status, const Json& rollout, bool with_instances, int64_t now_ms) {
  const uint64_t hash = spec.DeployHash();
  int64_t total = 0, ready = 0, available = 0, up_to_date = 0;
  int64_t cpu_reports = 0, cpu_sum = 0;  // over ready instances that report cpu
  Json list = Json::array();
  for (const auto& v : instances) {
    if (v.instance.service != spec.name) continue;
    std::string state = StateOf(v);
    bool live = state != "stopping" && state != "stopped" && state != "failed";
    bool current = v.instance.deploy_hash == hash;
    if (live) {
      ++total;
      if (current) ++up_to_date;
      if (state == "ready") {
        ++ready;
        if (v.status.is_object() && v.status.contains("cpuMillis") &&
            v.status["cpuMillis"].is_number_integer()) {
          ++cpu_reports;
          cpu_sum += v.status["cpuMillis"].get<int64_t>();
        }
        int64_t since = v.status.is_object() ? v.status.value("readySinceMs", int64_t{0}) : 0;
        if (now_ms - since >= spec.update.min_ready.count()) ++available;
      }
    }
    if (!with_instances) continue;
    Json i{{"id", v.instance.id},
           {"node", v.instance.node_id},
           {"state", state},
           {"up_to_date", current},
           {"deploy_hash", fmt::format("{:016x}", v.instance.deploy_hash)}};
    if (v.status.is_object()) {
      for (auto field : {"message", "readySinceMs", "ip", "ports", "restarts", "cpuMillis"}) {
        if (v.status.contains(field)) i[field] = v.status[field];
      }
    }
    list.push_back(std::move(i));
  }
  Json s{{"name", spec.name},        {"image", spec.image}, {"desired", spec.replicas},
         {"instances_total", total}, {"ready", ready},      {"available", available},
         {"up_to_date", up_to_date}};
  if (with_instances) s["instances"] = std::move(list);
  if (cpu_reports > 0) s["cpu_millis_per_ready"] = cpu_sum / cpu_reports;
  if (spec.autoscale) {
    const auto& a = *spec.autoscale;
    Json as{{"min", a.min}, {"max", a.max}, {"cooldown_ms", a.cooldown.count()}};
    if (a.target_cpu_percent > 0) as["target_cpu_percent"] = a.target_cpu_percent;
    if (a.target_rps > 0) as["target_rps"] = a.target_rps;
    s["autoscale"] = std::move(as);
  }
  if (status.is_object() && status.contains(spec.name)) {
    for (const char* field : {"unschedulable", "waiting"}) {
      if (status[spec.name].contains(field)) s[field] = status[spec.name][field];
    }
  }
  if (rollout.is_object() && !rollout.empty()) s["rollout"] = rollout;
  return s;
}

Json EventJson(const orch::Event& e) {
  return Json{{"time_ms", e.time_ms},
              {"type", e.type},
              {"service", e.service},
              {"reason", e.reason},
              {"message", e.message}};
}

Json DiffJson(const std::vector<orch::DiffLine>& diff) {
  Json out = Json::array();
  for (const auto& d : diff) {
    Json line{{"path", d.path}};
    line["before"] = d.before ? ParseOr(*d.before, *d.before) : Json();
    line["after"] = d.after ? ParseOr(*d.after, *d.after) : Json();
    out.push_back(std::move(line));
  }
  return out;
}

Json ApplyJson(const orch::App& app, const orch::ApplyResult& r, bool dry_run) {
  return Json{{"namespace", app.ns}, {"name", app.name},       {"action", r.action},
              {"dry_run", dry_run},  {"revision", r.revision}, {"diff", DiffJson(r.diff)},
              {"rolling", r.rolling}};
}

// The controller's records of one app: status (by service) and rollouts (by service).
struct Records {
  Json status = Json::object();
  std::map<std::string, Json> rollouts;
};

Result<Records> LoadRecords(store::Store& store, std::string_view ns, std::string_view app) {
  Records rec;
  auto s = store.Get(orch::AppStatusKey(ns, app));
  if (!s) return std::unexpected(s.error());
  if (!s->kvs.empty()) {
    Json j = ParseOr(s->kvs[0].value, Json::object());
    if (j.is_object() && j.contains("services")) rec.status = j["services"];
  }
  std::string prefix = fmt::format("{}{}/{}/", orch::kRolloutsPrefix, ns, app);
  auto r = store.Get(prefix, {.prefix = true});
  if (!r) return std::unexpected(r.error());
  for (const auto& kv : r->kvs) {
    rec.rollouts[kv.key.substr(prefix.size())] = ParseOr(kv.value, Json::object());
  }
  return rec;
}

Json AppSummary(store::Store& store, const orch::StoredApp& sa,
                const std::vector<InstanceView>& instances, bool with_instances, int64_t now_ms) {
  auto rec = LoadRecords(store, sa.app.ns, sa.app.name);
  Records records = rec ? std::move(*rec) : Records{};
  Json services = Json::array();
  for (const auto& spec : sa.app.services) {
    auto it = records.rollouts.find(spec.name);
    services.push_back(ServiceJson(spec, instances, records.status,
                                   it == records.rollouts.end() ? Json() : it->second,
                                   with_instances, now_ms));
  }
  return Json{{"namespace", sa.app.ns},
              {"name", sa.app.name},
              {"revision", sa.mod_revision},
              {"services", std::move(services)}};
}

// The containers admission judges for an app's services: what the orchestrator runs (the
// default profile: never privileged, no host network, no added capabilities) with the
// service's securityContext (read-only root, runAsUser, runAsNonRoot).
std::vector<security::admission::Container> Containers(
    const std::vector<orch::ServiceSpec>& services) {
  std::vector<security::admission::Container> out;
  for (const auto& s : services) {
    out.push_back({.name = s.name,
                   .image = s.image,
                   .user = s.security.run_as_user ? std::to_string(*s.security.run_as_user) : "",
                   .read_only_rootfs = s.security.read_only_root_filesystem,
                   .run_as_non_root = s.security.run_as_non_root});
  }
  return out;
}

void Apply(const std::shared_ptr<Call>& call, orch::AppStore& apps,
           security::admission::AdmissionController* admission) {
  const std::string& body = call->request().body;
  if (body.empty()) {
    return call->ReplyError(
        Error(ErrorCode::kInvalidArgument, "request body is empty; want a YAML or JSON app spec"));
  }
  if (body.size() > orch::kMaxSpecBytes) {
    return call->ReplyError(
        Error(ErrorCode::kPayloadTooLarge,
              fmt::format("app spec is {} bytes; at most {}", body.size(), orch::kMaxSpecBytes)));
  }
  std::string filename = call->Query("filename").value_or("app.yaml");
  std::string name = call->Query("name").value_or("app");
  auto app = orch::ParseAppFile(body, filename, name);
  if (!app) return call->ReplyError(app.error());
  if (!call->Authorize(app->ns, Role::kOperator)) return;
  bool dry_run = call->QueryFlag("dry_run") || call->QueryFlag("dry-run");
  Json warnings;
  if (!Admit(*call, admission, app->ns, fmt::format("app {}/{}", app->ns, app->name),
             Containers(app->services), dry_run, &warnings)) {
    return;
  }
  auto r = apps.Apply(*app, "apply", dry_run);
  if (!r) return call->ReplyError(r.error());
  Json out = ApplyJson(*app, *r, dry_run);
  if (!warnings.is_null()) out["admission"] = std::move(warnings);
  call->Reply(r->action == "created" && !dry_run ? 201 : 200, out);
}

// The app named by the path, or a 404 reply.
std::optional<orch::StoredApp> AppOr404(const std::shared_ptr<Call>& call, orch::AppStore& apps) {
  auto a = apps.Get(call->Param("ns"), call->Param("app"));
  if (!a) {
    call->ReplyError(a.error());
    return std::nullopt;
  }
  if (!*a) {
    call->ReplyError(Error(ErrorCode::kNotFound,
                           fmt::format("no app {}/{}", call->Param("ns"), call->Param("app"))));
    return std::nullopt;
  }
  return std::move(**a);
}

// Admission for a service of the app the path names before `action` (scale-up: only when
// `replicas` is above the current count; promote: always). False after answering.
bool AdmitService(const std::shared_ptr<Call>& call, orch::AppStore& apps,
                  security::admission::AdmissionController* admission, std::string_view action,
                  int64_t replicas = -1) {
  if (admission == nullptr) return true;
  auto sa = apps.Get(call->Param("ns"), call->Param("app"));
  if (!sa || !*sa) return true;  // the action itself answers the error
  const orch::ServiceSpec* spec = (*sa)->app.FindService(call->Param("svc"));
  if (spec == nullptr || (replicas >= 0 && replicas <= spec->replicas)) return true;
  return Admit(*call, admission, call->Param("ns"),
               fmt::format("{} of {}/{} service {}", action, call->Param("ns"), call->Param("app"),
                           spec->name),
               Containers({*spec}), false, nullptr);
}

// Admission for the version an undo rolls back to (`to`, or the newest other one).
bool AdmitUndo(const std::shared_ptr<Call>& call, orch::AppStore& apps,
               security::admission::AdmissionController* admission, int64_t to) {
  if (admission == nullptr) return true;
  auto sa = apps.Get(call->Param("ns"), call->Param("app"));
  if (!sa || !*sa) return true;
  const orch::ServiceSpec* spec = (*sa)->app.FindService(call->Param("svc"));
  auto hist = apps.History(call->Param("ns"), call->Param("app"), call->Param("svc"));
  if (spec == nullptr || !hist) return true;
  for (auto it = hist->rbegin(); it != hist->rend(); ++it) {
    if (to > 0 ? it->revision == to : it->deploy_hash != spec->DeployHash()) {
      return Admit(*call, admission, call->Param("ns"),
                   fmt::format("rollback of {}/{} service {} to revision {}", call->Param("ns"),
                               call->Param("app"), spec->name, it->revision),
                   Containers({it->spec}), false, nullptr);
    }
  }
  return true;
}

// GET /v1/apps/{ns}/{app}: the app's summary with its instances, spec and events.
void GetApp(const std::shared_ptr<Call>& call, orch::AppStore& apps, store::Store& store,
            Clock& clock) {
  auto sa = AppOr404(call, apps);
  if (!sa) return;
  auto inst = LoadInstances(store, sa->app.ns, sa->app.name);
  if (!inst) return call->ReplyError(inst.error());
  auto it = inst->find(sa->app.Key());
  static const std::vector<InstanceView> kNone;
  Json out =
      AppSummary(store, *sa, it == inst->end() ? kNone : it->second, true, clock.WallMillis());
  out["spec"] = orch::AppToJsonValue(sa->app);
  auto events = apps.Events(sa->app.ns, sa->app.name);
  if (!events) return call->ReplyError(events.error());
  Json ev = Json::array();
  for (const auto& e : *events) ev.push_back(EventJson(e));
  out["events"] = std::move(ev);
  call->Reply(200, out);
}

// POST /v1/apps/{ns}/{app}/services/{svc}/scale {"replicas"}.
void ScaleService(const std::shared_ptr<Call>& call, orch::AppStore& apps,
                  security::admission::AdmissionController* admission) {
  auto body = call->JsonBody();
  if (!body) return call->ReplyError(body.error());
  if (auto u = RejectUnknownFields(*body, {"replicas"}, "scale request"); !u) {
    return call->ReplyError(u.error());
  }
  if (!body->contains("replicas") || !(*body)["replicas"].is_number_integer() ||
      (*body)["replicas"].get<int64_t>() < 0) {
    return call->ReplyError(
        Error(ErrorCode::kInvalidArgument, "\"replicas\" must be a non-negative integer"));
  }
  const int64_t replicas = (*body)["replicas"].get<int64_t>();
  // Scaling up starts containers: admission judges the service as it is now.
  if (!AdmitService(call, apps, admission, "scale-up", replicas)) return;
  auto r = apps.Scale(call->Param("ns"), call->Param("app"), call->Param("svc"), replicas);
  if (!r) return call->ReplyError(r.error());
  call->Reply(200, Json{{"namespace", call->Param("ns")},
                        {"name", call->Param("app")},
                        {"service", call->Param("svc")},
                        {"replicas", replicas},
                        {"action", r->action},
                        {"revision", r->revision}});
}

// POST .../rollout/promote|abort: a canary goes on to a full rollout, or back to stable.
void PromoteOrAbort(const std::shared_ptr<Call>& call, orch::AppStore& apps,
                    security::admission::AdmissionController* admission, const std::string& verb) {
  auto body = call->JsonBody(true);
  if (!body) return call->ReplyError(body.error());
  if (auto u = RejectUnknownFields(*body, {}, verb + " request"); !u) {
    return call->ReplyError(u.error());
  }
  // Promoting rolls the canary's version out to every replica.
  const bool promote = verb == "promote";
  if (promote && !AdmitService(call, apps, admission, "promote")) return;
  auto r = promote ? apps.Promote(call->Param("ns"), call->Param("app"), call->Param("svc"))
                   : apps.Abort(call->Param("ns"), call->Param("app"), call->Param("svc"));
  if (!r) return call->ReplyError(r.error());
  call->Reply(200, Json{{"namespace", call->Param("ns")},
                        {"name", call->Param("app")},
                        {"service", call->Param("svc")},
                        {"action", promote ? "promoted" : "aborted"},
                        {"revision", r->revision},
                        {"diff", DiffJson(r->diff)}});
}

}  // namespace

void RegisterAppEndpoints(Router& router, store::Store& store, Clock& clock,
                          security::admission::AdmissionController* admission) {
  auto apps = std::make_shared<orch::AppStore>(store, clock);
  router.Add({.method = "POST",
              .pattern = "/v1/apps",
              .access = Access::kHandler,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [apps, admission](std::shared_ptr<Call> call) {
                Apply(call, *apps, admission);
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/apps",
              .access = Access::kList,
              .handler = [apps, &store, &clock](std::shared_ptr<Call> call) {
                std::string ns = call->Query("namespace").value_or("");
                if (!ns.empty() && !call->Authorize(ns, Role::kViewer)) return;
                auto list = apps->List();
                if (!list) return call->ReplyError(list.error());
                auto inst = LoadInstances(store, ns, "");
                if (!inst) return call->ReplyError(inst.error());
                bool with_instances = call->QueryFlag("instances");
                Json out = Json::array();
                const int64_t now = clock.WallMillis();
                static const std::vector<InstanceView> kNone;
                for (const auto& sa : *list) {
                  if ((!ns.empty() && sa.app.ns != ns) || !call->MayRead(sa.app.ns)) continue;
                  auto it = inst->find(sa.app.Key());
                  out.push_back(AppSummary(store, sa, it == inst->end() ? kNone : it->second,
                                           with_instances, now));
                }
                call->Reply(200, Json{{"apps", std::move(out)}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/apps/{ns}/{app}",
              .access = Access::kNamespace,
              .handler = [apps, &store, &clock](std::shared_ptr<Call> call) {
                GetApp(call, *apps, store, clock);
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/apps/{ns}/{app}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [apps](std::shared_ptr<Call> call) {
                auto r = apps->Delete(call->Param("ns"), call->Param("app"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"namespace", call->Param("ns")},
                                      {"name", call->Param("app")},
                                      {"action", "deleted"},
                                      {"revision", *r}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/apps/{ns}/{app}/services/{svc}/scale",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [apps, admission](std::shared_ptr<Call> call) {
                ScaleService(call, *apps, admission);
              }});
  router.Add(
      {.method = "GET",
       .pattern = "/v1/apps/{ns}/{app}/services/{svc}/rollout",
       .access = Access::kNamespace,
       .handler = [apps, &store, &clock](std::shared_ptr<Call> call) {
         auto sa = AppOr404(call, *apps);
         if (!sa) return;
         const std::string& svc = call->Param("svc");
         const orch::ServiceSpec* spec = sa->app.FindService(svc);
         if (spec == nullptr) {
           return call->ReplyError(Error(
               ErrorCode::kNotFound, fmt::format("app {} has no service {}", sa->app.Key(), svc)));
         }
         auto rec = LoadRecords(store, sa->app.ns, sa->app.name);
         if (!rec) return call->ReplyError(rec.error());
         auto inst = LoadInstances(store, sa->app.ns, sa->app.name);
         if (!inst) return call->ReplyError(inst.error());
         auto it = inst->find(sa->app.Key());
         static const std::vector<InstanceView> kNone;
         auto r = rec->rollouts.find(svc);
         Json out =
             ServiceJson(*spec, it == inst->end() ? kNone : it->second, rec->status,
                         r == rec->rollouts.end() ? Json() : r->second, true, clock.WallMillis());
         out["namespace"] = sa->app.ns;
         out["app"] = sa->app.name;
         out["deploy_hash"] = fmt::format("{:016x}", spec->DeployHash());
         auto hist = apps->History(sa->app.ns, sa->app.name, svc);
         if (!hist) return call->ReplyError(hist.error());
         Json h = Json::array();
         for (const auto& e : *hist) {
           h.push_back(Json{{"revision", e.revision},
                            {"deploy_hash", fmt::format("{:016x}", e.deploy_hash)},
                            {"time_ms", e.time_ms},
                            {"cause", e.cause},
                            {"image", e.spec.image},
                            {"current", e.deploy_hash == spec->DeployHash()}});
         }
         out["history"] = std::move(h);
         call->Reply(200, out);
       }});
  router.Add({.method = "POST",
              .pattern = "/v1/apps/{ns}/{app}/services/{svc}/rollout/undo",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [apps, admission](std::shared_ptr<Call> call) {
                auto body = call->JsonBody(true);
                if (!body) return call->ReplyError(body.error());
                if (auto u = RejectUnknownFields(*body, {"revision"}, "undo request"); !u) {
                  return call->ReplyError(u.error());
                }
                int64_t to = 0;
                if (body->contains("revision")) {
                  if (!(*body)["revision"].is_number_integer() ||
                      (*body)["revision"].get<int64_t>() < 0) {
                    return call->ReplyError(Error(ErrorCode::kInvalidArgument,
                                                  "\"revision\" must be a positive integer"));
                  }
                  to = (*body)["revision"].get<int64_t>();
                }
                if (!AdmitUndo(call, *apps, admission, to)) return;
                auto r = apps->Undo(call->Param("ns"), call->Param("app"), call->Param("svc"), to);
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"namespace", call->Param("ns")},
                                      {"name", call->Param("app")},
                                      {"service", call->Param("svc")},
                                      {"action", r->action},
                                      {"revision", r->revision},
                                      {"diff", DiffJson(r->diff)}});
              }});
  // Canary rollouts: promote (the rest rolls out) and abort (back to the stable version).
  for (std::string verb : {"promote", "abort"}) {
    router.Add({.method = "POST",
                .pattern = "/v1/apps/{ns}/{app}/services/{svc}/rollout/" + verb,
                .access = Access::kNamespace,
                .min_role = Role::kOperator,
                .mutating = true,
                .handler = [apps, verb, admission](std::shared_ptr<Call> call) {
                  PromoteOrAbort(call, *apps, admission, verb);
                }});
  }
}

}  // namespace berth::api
