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

}  // namespace

void RegisterRouteEndpoints(Router& router, gateway::RouteStore& routes) {
  router.Add(
      {.method = "GET", .pattern = "/v1/routes", .handler = [&routes](std::shared_ptr<Call> call) {
         int64_t revision = 0;
         auto list = routes.List(&revision);
         if (!list) return call->ReplyError(list.error());
         Json out = Json::array();
         for (const auto& r : *list) out.push_back(RouteJson(r));
         call->Reply(200, Json{{"routes", std::move(out)}, {"revision", revision}});
       }});
  router.Add({.method = "GET",
              .pattern = "/v1/routes/{name}",
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.Get(call->Param("name"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, RouteJson(*r));
              }});
  router.Add({.method = "PUT",
              .pattern = "/v1/routes/{name}",
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r =
                    routes.Put(call->Param("name"), call->request().body, call->QueryFlag("force"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"route", RouteJson(r->route)},
                                      {"created", r->created},
                                      {"changed", r->changed}});
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/routes/{name}",
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.Delete(call->Param("name"), call->QueryFlag("force"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"revision", *r}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/routes:apply",
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                const bool dry_run = call->QueryFlag("dry_run");
                auto r = routes.Apply(call->request().body, dry_run, call->QueryFlag("force"));
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
              .handler = [&routes](std::shared_ptr<Call> call) {
                int64_t revision = 0;
                auto list = routes.ListServices(&revision);
                if (!list) return call->ReplyError(list.error());
                Json out = Json::array();
                for (const auto& s : *list) out.push_back(ServiceJson(s));
                call->Reply(200, Json{{"services", std::move(out)}, {"revision", revision}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/gateway/services/{ns}/{service}",
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.GetService(call->Param("ns"), call->Param("service"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, ServiceJson(*r));
              }});
  router.Add({.method = "PUT",
              .pattern = "/v1/gateway/services/{ns}/{service}",
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
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&routes](std::shared_ptr<Call> call) {
                auto r = routes.DeleteService(call->Param("ns"), call->Param("service"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"revision", *r}});
              }});
}

}  // namespace berth::api
