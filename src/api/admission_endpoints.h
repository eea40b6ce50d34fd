// Admission policies per namespace over the REST API, and the one call the workload endpoints
// make before anything runs (apply, run, scale-up, rollouts):
//
//   Json warnings;
//   if (!Admit(*call, admission, ns, "app shop/web", containers, dry_run, &warnings)) return;
//
// which answers 403 listing every violated rule when the namespace's policy enforces, and
// otherwise fills `warnings` (warn and audit modes) for the reply's "admission" field.
//   GET    /v1/security/policies            policies of the readable namespaces
//   GET    /v1/security/policies/{ns}       {"namespace","text","policy"}
//   PUT    /v1/security/policies/{ns}       the policy's YAML (or JSON) text (global admin)
//   DELETE /v1/security/policies/{ns}
#pragma once

#include "api/router.h"
#include "security/admission/controller.h"

namespace berth::api {

// True when the workload may go ahead; false after answering the refusal. `admission` null:
// always true.
bool Admit(Call& call, security::admission::AdmissionController* admission, std::string_view ns,
           std::string_view what, const std::vector<security::admission::Container>& containers,
           bool dry_run, Json* warnings);

void RegisterAdmissionEndpoints(Router& router, security::admission::AdmissionController& admission,
                                store::Store& store);

}  // namespace berth::api
