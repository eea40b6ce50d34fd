#include "api/route_endpoints.h"

#include <fmt/core.h>

#include "core/json.h"

namespace berth::api {
namespace {

using security::Role;

Json RouteJson(const gateway::StoredRoute& r) {
  auto entry = ParseJson(r.json);
  Json j{{"name", r.name},
         {"create_revision", r.create_revision},
         {"mod_revision", r.mod_revision},
         {"route", entry ? *entry : Json(r.json)}};
  if (!r.owner.empty()) j["owner"] = r.owner;
  return j;
}

Json ServiceJson(const gateway::StoredServiceSettings& s) {
  auto settings = ParseJson(s.json);
  return Json{{"namespace", s.ns},
              {"service", s.service},
              {"mod_revision", s.mod_revision},
              {"settings", settings ? *settings : Json(s.json)}};
}

// Checks `role` over a route's scope: every namespace it targets, and the global role for a
// route that reaches raw addresses or host files (gateway::ScopeOfRoute).
gateway::ScopeGuard Guard(Call& call, Role role) {
  return [&call, role](const gateway::RouteScope& scope) -> Result<void> {
    if (scope.cluster) {
      if (auto ok = call.PermitCluster(role); !ok) {
        return Fail(ErrorCode::kPermissionDenied,
                    ok.error().message +
                        " (the route reaches raw upstream addresses, reads files "
                        "on the gateway's host or targets no service)");
      }
    }
    for (const auto& ns : scope.namespaces) {
      if (auto ok = call.Permit(ns, role); !ok) return ok;
    }
    return {};
  };
}

// Whether the caller may see a stored route (lists leave the others out).
bool MayRead(const Call& call, const gateway::StoredRoute& r) {
  auto scope = gateway::ScopeOfRoute(r.json);
  if (scope.cluster && !call.principal().SeesAllNamespaces()) return false;
  for (const auto& ns : scope.namespaces) {
    if (!call.MayRead(ns)) return false;
  }
  return true;
}

}  // namespace

void RegisterRouteEndpoints(Router& router, gateway::RouteStore& routes) {
  router.Add({.method = "GET",
              .pattern = "/v1/routes",
              .access = Access::kList,
              .handler = [&routes](std::shared_ptr<Call> call) {
                int64_t revision = 0;
                auto list = routes.List(&revision);
                if (!list) return call->ReplyError(list.error());
                Json out = Json::array();
                for (const auto& r : *list) {
                  if (MayRead(*call, r)) out.push_back(RouteJson(r));
                }
                call->Reply(200, Json{{"routes", std::move(out)}, {"revision", revision}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/routes/{name}",
              .access = Access::kHandler,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.Get(call->Param("name"));
                if (!r) return call->ReplyError(r.error());
                auto guard = Guard(*call, Role::kViewer);
                if (auto ok = guard(gateway::ScopeOfRoute(r->json)); !ok)
                  return call->ReplyError(ok.error());
                call->Reply(200, RouteJson(*r));
              }});
  router.Add({.method = "PUT",
              .pattern = "/v1/routes/{name}",
              .access = Access::kHandler,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.Put(call->Param("name"), call->request().body,
                                    call->QueryFlag("force"), Guard(*call, Role::kOperator));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"route", RouteJson(r->route)},
                                      {"created", r->created},
                                      {"changed", r->changed}});
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/routes/{name}",
              .access = Access::kHandler,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.Delete(call->Param("name"), call->QueryFlag("force"),
                                       Guard(*call, Role::kOperator));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"revision", *r}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/routes:apply",
              .access = Access::kHandler,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                const bool dry_run = call->QueryFlag("dry_run");
                auto r = routes.Apply(call->request().body, dry_run, call->QueryFlag("force"),
                                      Guard(*call, Role::kOperator));
                if (!r) return call->ReplyError(r.error());
                Json items = Json::array();
                for (const auto& i : r->items) {
                  items.push_back(Json{{"kind", i.kind}, {"name", i.name}, {"action", i.action}});
                }
                call->Reply(200, Json{{"items", std::move(items)},
                                      {"revision", r->revision},
                                      {"dry_run", dry_run}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/gateway/services",
              .access = Access::kList,
              .handler = [&routes](std::shared_ptr<Call> call) {
                int64_t revision = 0;
                auto list = routes.ListServices(&revision);
                if (!list) return call->ReplyError(list.error());
                Json out = Json::array();
                for (const auto& s : *list) {
                  if (call->MayRead(s.ns)) out.push_back(ServiceJson(s));
                }
                call->Reply(200, Json{{"services", std::move(out)}, {"revision", revision}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/gateway/services/{ns}/{service}",
              .access = Access::kNamespace,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.GetService(call->Param("ns"), call->Param("service"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, ServiceJson(*r));
              }});
  router.Add({.method = "PUT",
              .pattern = "/v1/gateway/services/{ns}/{service}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.PutService(call->Param("ns"), call->Param("service"),
                                           call->request().body);
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, ServiceJson(*r));
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/gateway/services/{ns}/{service}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.DeleteService(call->Param("ns"), call->Param("service"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"revision", *r}});
              }});
}

}  // namespace berth::api
