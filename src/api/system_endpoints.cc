// GET /v1/health (public: liveness for load balancers and scripts), GET /v1/status.
#include "api/endpoints.h"
#include "store/store.h"

namespace berth::api {

Json BindingsJson(const std::vector<security::Binding>& bindings) {
  Json out = Json::array();
  for (const auto& b : bindings)
    out.push_back({{"namespace", b.ns}, {"role", security::RoleName(b.role)}});
  return out;
}

Json CallerJson(const security::Principal& p) {
  Json j{{"name", p.name},
         {"role", security::RoleName(p.role)},
         {"bindings", BindingsJson(p.bindings)}};
  if (!p.node.empty()) j["node"] = p.node;
  return j;
}

void RegisterSystemEndpoints(Router& router, store::Store& store, Clock& clock, SystemInfo info) {
  router.Add({.method = "GET",
              .pattern = "/v1/health",
              .access = Access::kPublic,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto rev = store.CurrentRevision();
                if (!rev) {
                  return call->ReplyError(
                      Error(ErrorCode::kUnavailable, "store unavailable: " + rev.error().message));
                }
                call->Reply(200, Json{{"status", "ok"}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/status",
              .access = Access::kList,  // any token: it says who the caller is
              .min_role = security::Role::kViewer,
              .handler = [&store, &clock, info](std::shared_ptr<Call> call) {
                auto rev = store.CurrentRevision();
                if (!rev) return call->ReplyError(rev.error());
                auto compact = store.CompactRevision();
                call->Reply(200, Json{{"version", info.version},
                                      {"role", info.role},
                                      {"store",
                                       {{"backend", info.store_backend},
                                        {"revision", *rev},
                                        {"compact_revision", compact.value_or(0)}}},
                                      {"uptime_ms", clock.WallMillis() - info.started_ms},
                                      {"caller", CallerJson(call->principal())}});
              }});
}

}  // namespace berth::api
