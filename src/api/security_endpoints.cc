// Tokens and the audit trail (admin only):
//   POST   /v1/tokens {"name": "ci", "role": "operator"}               global operator
//          {"name": "shop-ci", "role": "operator", "namespaces": ["shop"]}   operator of shop only
//          {"name": "x", "role": "viewer", "bindings": [{"namespace": "shop", "role": "operator"}]}
//          global viewer, operator of shop; {"node": "n1"}: node n1's agent credential
//          -> the token, shown once
//   GET    /v1/tokens
//   PUT    /v1/tokens/{id} {"role"?, "namespaces"?, "bindings"?}  replaces its role and bindings
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
              {"bindings", BindingsJson(r.bindings)},
              {"created_ms", r.created_ms},
              {"created_by", r.created_by},
              {"node", r.node}};
}

Result<Role> RoleField(const Json& v, std::string_view what) {
  if (!v.is_string()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{} must be a string: admin, operator or viewer", what));
  }
  return security::ParseRole(v.get<std::string>());
}

// "role" (global, or with "namespaces" the role in each of them) and "bindings"
// ([{"namespace","role"}]) of a token body, checked (security::TokenService checks the rest).
Result<security::TokenGrant> ParseGrant(const Json& body) {
  security::TokenGrant g;
  Role role = Role::kNone;
  if (body.contains("role")) {
    auto r = RoleField(body["role"], "\"role\"");
    if (!r) return std::unexpected(r.error());
    role = *r;
  }
  if (body.contains("namespaces")) {
    const Json& list = body["namespaces"];
    if (!list.is_array() || list.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "\"namespaces\" must be a non-empty list of namespace names");
    }
    if (role == Role::kNone) {
      return Fail(ErrorCode::kInvalidArgument,
                  "\"namespaces\" needs \"role\": the role the token gets in each of them");
    }
    for (const auto& ns : list) {
      if (!ns.is_string()) {
        return Fail(ErrorCode::kInvalidArgument, "\"namespaces\" must be a list of strings");
      }
      g.bindings.push_back({ns.get<std::string>(), role});
    }
  } else {
    g.role = role;
  }
  if (body.contains("bindings")) {
    const Json& list = body["bindings"];
    if (!list.is_array()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "\"bindings\" must be a list of {\"namespace\",\"role\"}");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& b = list[i];
      std::string what = fmt::format("bindings[{}]", i);
      if (!b.is_object()) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{} must be {{\"namespace\",\"role\"}}", what));
      }
      if (auto v = RejectUnknownFields(b, {"namespace", "role"}, what); !v) {
        return std::unexpected(v.error());
      }
      if (!b.contains("namespace") || !b["namespace"].is_string() || !b.contains("role")) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{} needs \"namespace\" (string) and \"role\"", what));
      }
      auto r = RoleField(b["role"], what + ".role");
      if (!r) return std::unexpected(r.error());
      g.bindings.push_back({b["namespace"].get<std::string>(), *r});
    }
  }
  if (g.role == Role::kNone && g.bindings.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "token body needs \"role\" (global), \"role\" with \"namespaces\", or "
                "\"bindings\"");
  }
  if (auto v = security::NormalizeBindings(g.bindings); !v) return std::unexpected(v.error());
  return g;
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
       .access = Access::kCluster,
       .min_role = Role::kAdmin,
       .mutating = true,
       .handler = [&tokens](std::shared_ptr<Call> call) {
         auto body = call->JsonBody();
         if (!body) return call->ReplyError(body.error());
         if (auto v = RejectUnknownFields(*body, {"name", "role", "node", "namespaces", "bindings"},
                                          "token body");
             !v) {
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
           if (body->contains("namespaces") || body->contains("bindings") ||
               (*body)["role"] != "operator") {
             return call->ReplyError(
                 Error(ErrorCode::kInvalidArgument,
                       fmt::format("a node token has the operator role (for its node only) and no "
                                   "namespace bindings, not {}",
                                   body->dump().substr(0, 120))));
           }
         }
         auto grant = ParseGrant(*body);
         if (!grant) return call->ReplyError(grant.error());
         grant->node = node;
         std::string name = body->value("name", std::string());
         if (body->contains("name") && !(*body)["name"].is_string()) {
           return call->ReplyError(Error(ErrorCode::kInvalidArgument, "\"name\" must be a string"));
         }
         if (name.empty()) {
           name = !node.empty() ? fmt::format("node-{}", node)
                  : grant->role != Role::kNone
                      ? fmt::format("{}-token", security::RoleName(grant->role))
                      : fmt::format("{}-{}", grant->bindings[0].ns,
                                    security::RoleName(grant->bindings[0].role));
         }
         auto issued = tokens.Create(name, std::move(*grant), call->principal().name);
         if (!issued) return call->ReplyError(issued.error());
         Json j = TokenJson(issued->record);
         j["token"] = issued->secret;
         call->Reply(201, j);
       }});
  router.Add({.method = "GET",
              .pattern = "/v1/tokens",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .handler = [&tokens](std::shared_ptr<Call> call) {
                auto list = tokens.List();
                if (!list) return call->ReplyError(list.error());
                Json items = Json::array();
                for (const auto& r : *list) items.push_back(TokenJson(r));
                call->Reply(200, Json{{"tokens", std::move(items)}});
              }});
  router.Add(
      {.method = "PUT",
       .pattern = "/v1/tokens/{id}",
       .access = Access::kCluster,
       .min_role = Role::kAdmin,
       .mutating = true,
       .handler = [&tokens](std::shared_ptr<Call> call) {
         auto body = call->JsonBody();
         if (!body) return call->ReplyError(body.error());
         if (auto v = RejectUnknownFields(*body, {"role", "namespaces", "bindings"}, "token grant");
             !v) {
           return call->ReplyError(v.error());
         }
         auto grant = ParseGrant(*body);
         if (!grant) return call->ReplyError(grant.error());
         auto r = tokens.SetGrant(call->Param("id"), grant->role, std::move(grant->bindings));
         if (!r) return call->ReplyError(r.error());
         call->Reply(200, TokenJson(*r));
       }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/tokens/{id}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&tokens](std::shared_ptr<Call> call) {
                auto r = tokens.Revoke(call->Param("id"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"id", call->Param("id")}, {"revoked", true}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/audit",
              .access = Access::kCluster,
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
