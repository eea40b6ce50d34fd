// Secret endpoints (declared in config_endpoints.h). A value is read from the request body
// and written to the store sealed; it never appears in an error message (body errors say
// what is wrong without quoting), in the audit record (which keeps method, path and status)
// or in any answer except ?reveal to an admin of the namespace.
#include <fmt/core.h>

#include "api/config_endpoints.h"

namespace berth::api {
namespace {

using security::Role;

Json InfoJson(const config::SecretInfo& s) {
  return Json{{"namespace", s.ns},          {"name", s.name},
              {"version", s.version},       {"size", s.size},
              {"key_id", s.key_id},         {"created_ms", s.created_ms},
              {"created_by", s.created_by}, {"updated_ms", s.updated_ms},
              {"updated_by", s.updated_by}, {"mod_revision", s.mod_revision}};
}

// {"value": "..."}: parsed without the library's messages (they quote the text they choke on).
Result<std::string> ReadValue(const Call& call) {
  Json body = Json::parse(call.request().body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return Fail(ErrorCode::kInvalidArgument,
                "request body: want a JSON object {\"value\": \"...\"} (the body is not quoted "
                "here: it holds a secret)");
  }
  for (const auto& [k, v] : body.items()) {
    if (k != "value") {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("request body: unknown field {} (want only \"value\")", Json(k).dump()));
    }
  }
  auto it = body.find("value");
  if (it == body.end() || !it->is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "request body: \"value\" must be a string");
  }
  return it->get<std::string>();
}

config::Caller CallerOf(const Call& call) {
  const auto& p = call.principal();
  return config::Caller{.name = config::AuthorName(p.name, p.token_id), .token = p.token_id};
}

}  // namespace

void RegisterSecretEndpoints(Router& router, config::SecretStore& secrets) {
  router.Add({.method = "GET",
              .pattern = "/v1/secrets/{ns}",
              .access = Access::kNamespace,
              .handler = [&secrets](std::shared_ptr<Call> call) {
                auto list = secrets.List(call->Param("ns"));
                if (!list) return call->ReplyError(list.error());
                Json out = Json::array();
                for (const auto& s : *list) out.push_back(InfoJson(s));
                call->Reply(200, Json{{"secrets", std::move(out)}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/secrets/{ns}/{name}",
              .access = Access::kNamespace,
              .handler = [&secrets](std::shared_ptr<Call> call) {
                const std::string& ns = call->Param("ns");
                auto info = secrets.Get(ns, call->Param("name"));
                if (!info) return call->ReplyError(info.error());
                Json out = InfoJson(*info);
                if (call->QueryFlag("reveal")) {
                  if (auto ok = call->Permit(ns, Role::kAdmin); !ok) {
                    return call->ReplyError(Error(
                        ErrorCode::kPermissionDenied,
                        ok.error().message + " (revealing a secret's value needs admin there)"));
                  }
                  auto version = call->QueryInt("version", 0);
                  if (!version) return call->ReplyError(version.error());
                  auto value = secrets.Reveal(ns, call->Param("name"), *version);
                  if (!value) return call->ReplyError(value.error());
                  out["value"] = std::move(*value);
                  if (*version > 0) out["version"] = *version;
                }
                call->Reply(200, out);
              }});
  router.Add({.method = "PUT",
              .pattern = "/v1/secrets/{ns}/{name}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&secrets](std::shared_ptr<Call> call) {
                auto value = ReadValue(*call);
                if (!value) return call->ReplyError(value.error());
                auto s =
                    secrets.Set(call->Param("ns"), call->Param("name"), *value, CallerOf(*call));
                if (!s) return call->ReplyError(s.error());
                call->Reply(s->version == 1 ? 201 : 200, InfoJson(*s));
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/secrets/{ns}/{name}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .handler = [&secrets](std::shared_ptr<Call> call) {
                auto r = secrets.Delete(call->Param("ns"), call->Param("name"));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"action", "deleted"}, {"revision", *r}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/secrets/{ns}/{name}/history",
              .access = Access::kNamespace,
              .handler = [&secrets](std::shared_ptr<Call> call) {
                auto h = secrets.History(call->Param("ns"), call->Param("name"));
                if (!h) return call->ReplyError(h.error());
                Json out = Json::array();
                for (const auto& s : *h) out.push_back(InfoJson(s));
                call->Reply(200, Json{{"versions", std::move(out)}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/secrets:rotate-key",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&secrets](std::shared_ptr<Call> call) {
                auto r = secrets.RotateKey();
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"old_key", r->old_key},
                                      {"new_key", r->new_key},
                                      {"rewrapped", r->rewrapped}});
              }});
}

}  // namespace berth::api
