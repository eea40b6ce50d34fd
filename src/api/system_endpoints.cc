// GET /v1/health (public: liveness for load balancers and scripts), GET /v1/status.
#include "api/endpoints.h"
#include "store/store.h"

namespace berth::api {

void RegisterSystemEndpoints(Router& router, store::Store& store, Clock& clock, SystemInfo info) {
  router.Add({.method = "GET",
              .pattern = "/v1/health",
              .public_ = true,
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
                                      {"caller",
                                       {{"name", call->principal().name},
                                        {"role", security::RoleName(call->principal().role)}}}});
              }});
}

}  // namespace berth::api
