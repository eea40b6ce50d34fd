#include "api/admission_endpoints.h"

#include <fmt/core.h>

#include "security/scan/service.h"

namespace berth::api {

using security::Role;
namespace adm = security::admission;

bool Admit(Call& call, adm::AdmissionController* admission, std::string_view ns,
           std::string_view what, const std::vector<adm::Container>& containers, bool dry_run,
           Json* warnings) {
  if (admission == nullptr) return true;
  auto d = admission->Check(ns, what, containers, call.principal(), dry_run);
  if (!d) {
    call.ReplyError(Error(d.error().code, "admission: " + d.error().message));
    return false;
  }
  if (!d->admitted()) {
    call.ReplyError(Error(ErrorCode::kPermissionDenied, d->Message(ns, what)));
    return false;
  }
  if (!d->violations.empty() && warnings) {
    *warnings = Json{{"mode", adm::ModeName(d->mode)},
                     {"warnings", d->violations},
                     {"message", d->Message(ns, what)}};
  }
  return true;
}

void RegisterAdmissionEndpoints(Router& router, adm::AdmissionController& admission,
                                store::Store& store) {
  router.Add({.method = "GET",
              .pattern = "/v1/security/policies",
              .access = Access::kList,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto got = store.Get(security::scan::kPoliciesPrefix, {.prefix = true});
                if (!got) return call->ReplyError(got.error());
                Json out = Json::array();
                for (const auto& kv : got->kvs) {
                  std::string ns = kv.key.substr(security::scan::kPoliciesPrefix.size());
                  if (!call->MayRead(ns)) continue;
                  Json j = ParseJson(kv.value).value_or(Json::object());
                  j["namespace"] = ns;
                  out.push_back(std::move(j));
                }
                call->Reply(200, Json{{"policies", std::move(out)}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/security/policies/{ns}",
              .access = Access::kNamespace,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto got =
                    store.Get(std::string(security::scan::kPoliciesPrefix) + call->Param("ns"));
                if (!got) return call->ReplyError(got.error());
                if (got->kvs.empty()) {
                  return call->ReplyError(Error(
                      ErrorCode::kNotFound,
                      fmt::format("namespace {} has no admission policy", call->Param("ns"))));
                }
                Json j = ParseJson(got->kvs[0].value).value_or(Json::object());
                j["namespace"] = call->Param("ns");
                call->Reply(200, j);
              }});
  // Writing a namespace's policy is a global admin's: its own operators must not loosen it.
  router.Add({.method = "PUT",
              .pattern = "/v1/security/policies/{ns}",
              .access = Access::kNamespace,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&admission](std::shared_ptr<Call> call) {
                const std::string& ns = call->Param("ns");
                if (auto v = security::ValidateNamespaceName(ns); !v)
                  return call->ReplyError(v.error());
                if (auto r = admission.PutPolicy(ns, call->request().body); !r) {
                  return call->ReplyError(r.error());
                }
                auto p = admission.PolicyOf(ns);
                if (!p || !*p)
                  return call->ReplyError(Error(ErrorCode::kInternal, "policy not stored"));
                call->Reply(200, Json{{"namespace", ns}, {"policy", adm::PolicyToJson(**p)}});
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/security/policies/{ns}",
              .access = Access::kNamespace,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&admission](std::shared_ptr<Call> call) {
                auto r = admission.DeletePolicy(call->Param("ns"));
                if (!r) return call->ReplyError(r.error());
                if (!*r) {
                  return call->ReplyError(Error(
                      ErrorCode::kNotFound,
                      fmt::format("namespace {} has no admission policy", call->Param("ns"))));
                }
                call->Reply(200, Json{{"namespace", call->Param("ns")}, {"deleted", true}});
              }});
}

}  // namespace berth::api
