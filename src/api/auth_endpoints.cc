// The web console's sign-in (security/login_links.h):
//   POST /v1/auth/login-links   any token but a node's -> 201 {"code","path","expires_ms"}:
//        open <api address><path> within a minute (`berth ui` does)
//   POST /v1/auth/login {"code"}  public -> {"token","token_id","name","role","expires_ms"}:
//        the code's one session token; 401 when unknown, used or expired
//   POST /v1/auth/logout          ends the caller's console session (409 for other tokens)
// (GET /v1/auth/whoami and POST /v1/auth/access are the ApiServer's own.)
#include <fmt/core.h>

#include "api/endpoints.h"
#include "security/login_links.h"

namespace berth::api {

void RegisterLoginEndpoints(Router& router, security::LoginLinks& links) {
  router.Add({.method = "POST",
              .pattern = "/v1/auth/login-links",
              .access = Access::kList,
              .mutating = true,
              .handler = [&links](std::shared_ptr<Call> call) {
                auto body = call->JsonBody(true);
                if (!body) return call->ReplyError(body.error());
                if (auto u = RejectUnknownFields(*body, {}, "login link request"); !u) {
                  return call->ReplyError(u.error());
                }
                auto link = links.Create(call->principal());
                if (!link) return call->ReplyError(link.error());
                call->Reply(201, Json{{"code", link->code},
                                      {"path", "/ui/login#code=" + link->code},
                                      {"expires_ms", link->expires_ms}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/auth/login",
              .access = Access::kPublic,
              .mutating = true,
              .handler = [&links](std::shared_ptr<Call> call) {
                auto body = call->JsonBody();
                if (!body) return call->ReplyError(body.error());
                if (auto u = RejectUnknownFields(*body, {"code"}, "login request"); !u) {
                  return call->ReplyError(u.error());
                }
                if (!body->contains("code") || !(*body)["code"].is_string()) {
                  return call->ReplyError(
                      Error(ErrorCode::kInvalidArgument, "\"code\" must be a string"));
                }
                auto session = links.Redeem((*body)["code"].get<std::string>());
                if (!session) return call->ReplyError(session.error());
                const auto& r = session->token.record;
                call->Reply(200, Json{{"token", session->token.secret},
                                      {"token_id", r.id},
                                      {"name", r.name},
                                      {"role", security::RoleName(r.role)},
                                      {"bindings", BindingsJson(r.bindings)},
                                      {"expires_ms", session->expires_ms}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/auth/logout",
              .access = Access::kList,
              .mutating = true,
              .handler = [&links](std::shared_ptr<Call> call) {
                auto r = links.Logout(call->principal());
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"logged_out", true}});
              }});
}

}  // namespace berth::api
