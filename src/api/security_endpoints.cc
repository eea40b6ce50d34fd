// Tokens and the audit trail (admin only):
//   POST   /v1/tokens {"name": "ci", "role": "operator"[, "node": "n1"]}  -> the token, shown
//          once; "node" binds it to a node (the node agent's credential; operator role)
//   GET    /v1/tokens
//   DELETE /v1/tokens/{id}
//   GET    /v1/audit[?limit=100]
#include <fmt/core.h>

#include "api/endpoints.h"
#include "security/audit.h"
#include "security/tokens.h"

namespace berth::api {
namespace {
using security::Role;

Json TokenJson(const security::TokenRecord& r) {
  return Json{{"id", r.id},
              {"name", r.name},
              {"role", security::RoleName(r.role)},
              {"created_ms", r.created_ms},
              {"created_by", r.created_by},
              {"node", r.node}};
}

// A node name as /v1/nodes takes it: 1-63 of a-z, 0-9 and '-', starting with a letter.
bool IsNodeName(const std::string& s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z' || s.back() == '-') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}
}  // namespace

void RegisterSecurityEndpoints(Router& router, security::TokenService& tokens,
                               security::AuditLog& audit) {
  router.Add(
      {.method = "POST",
       .pattern = "/v1/tokens",
       .min_role = Role::kAdmin,
       .mutating = true,
       .handler = [&tokens](std::shared_ptr<Call> call) {
         auto body = call->JsonBody();
         if (!body) return call->ReplyError(body.error());
         if (auto v = RejectUnknownFields(*body, {"name", "role", "node"}, "token body"); !v) {
           return call->ReplyError(v.error());
         }
         // A node token: the node agent's credential, operator for that node only.
         std::string node;
         if (body->contains("node")) {
           const Json& n = (*body)["node"];
           if (!n.is_string() || !IsNodeName(n.get<std::string>())) {
             return call->ReplyError(
                 Error(ErrorCode::kInvalidArgument,
                       fmt::format("\"node\" {} is not a node name: use 1-63 lower-case "
                                   "letters, digits and '-', starting with a letter",
                                   n.dump().substr(0, 80))));
           }
           node = n.get<std::string>();
           if (!body->contains("role")) (*body)["role"] = "operator";
         }
         if (!body->contains("role") || !(*body)["role"].is_string()) {
           return call->ReplyError(
               Error(ErrorCode::kInvalidArgument, "token body needs \"role\" (string)"));
         }
         auto role = security::ParseRole((*body)["role"].get<std::string>());
         if (!role) return call->ReplyError(role.error());
         if (!node.empty() && *role != Role::kOperator) {
           return call->ReplyError(
               Error(ErrorCode::kInvalidArgument,
                     fmt::format("a node token has the operator role (for its node only), "
                                 "not {}",
                                 security::RoleName(*role))));
         }
         std::string name = body->value("name", std::string());
         if (body->contains("name") && !(*body)["name"].is_string()) {
           return call->ReplyError(Error(ErrorCode::kInvalidArgument, "\"name\" must be a string"));
         }
         if (name.empty()) {
           name = node.empty() ? fmt::format("{}-token", security::RoleName(*role))
                               : fmt::format("node-{}", node);
         }
         auto issued = tokens.Create(name, *role, call->principal().name, node);
         if (!issued) return call->ReplyError(issued.error());
         Json j = TokenJson(issued->record);
         j["token"] = issued->secret;
         call->Reply(201, j);
       }});
  router.Add({.method = "GET",
              .pattern = "/v1/tokens",
              .min_role = Role::kAdmin,
              .handler = [&tokens](std::shared_ptr<Call> call) {
                auto list = tokens.List();
                if (!list) return call->ReplyError(list.error());
                Json items = Json::array();
                for (const auto& r : *list) items.push_back(TokenJson(r));
                call->Reply(200, Json{{"tokens", std::move(items)}});
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/tokens/{id}",
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&tokens](std::shared_ptr<Call> call) {
                auto r = tokens.Revoke(call->Param("id"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"id", call->Param("id")}, {"revoked", true}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/audit",
              .min_role = Role::kAdmin,
              .handler = [&audit](std::shared_ptr<Call> call) {
                auto limit = call->QueryInt("limit", 100);
                if (!limit) return call->ReplyError(limit.error());
                if (*limit < 1 || *limit > 10000) {
                  return call->ReplyError(
                      Error(ErrorCode::kInvalidArgument, "limit must be from 1 to 10000"));
                }
                auto list = audit.List(*limit);
                if (!list) return call->ReplyError(list.error());
                Json items = Json::array();
                for (const auto& r : *list) {
                  items.push_back(Json{{"time_ms", r.time_ms},
                                       {"actor", r.actor},
                                       {"token_id", r.token_id},
                                       {"action", r.action},
                                       {"status", r.status},
                                       {"result", r.result},
                                       {"remote", r.remote}});
                }
                call->Reply(200, Json{{"records", std::move(items)}});
              }});
}

}  // namespace berth::api
