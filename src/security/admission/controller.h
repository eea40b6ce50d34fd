// Admission as the API runs it: the namespace's policy (/security/policies/<ns>) judged
// against the containers about to run, with the facts the scanner published
// (/security/scans/<image>) less the namespace's ignores; every decision on a namespace with
// a policy is written to the audit trail ("admission <what>": refused, warned, audited or
// admitted), dry runs included.
// Thread-safety: every method may be called from any thread (the store and the audit log are).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "security/admission/policy.h"
#include "security/audit.h"
#include "security/authz.h"
#include "store/store.h"

namespace berth::security::admission {

class AdmissionController {
 public:
  AdmissionController(store::Store& store, AuditLog* audit, Clock& clock)
      : store_(store), audit_(audit), clock_(clock) {}

  // The policy of `ns`, or nullopt when it has none (everything is admitted).
  Result<std::optional<Policy>> PolicyOf(std::string_view ns);
  // Judges `containers` of `what` ("app shop/web", "container shop/x") in `ns` for `who`.
  // The decision (admitted or not), or an error reading the store.
  Result<Decision> Check(std::string_view ns, std::string_view what,
                         const std::vector<Container>& containers, const Principal& who,
                         bool dry_run);

  Result<void> PutPolicy(std::string_view ns, std::string_view text);
  Result<bool> DeletePolicy(std::string_view ns);

 private:
  ImageFacts Facts(const std::string& image, std::string_view ns, int64_t now_ms);

  store::Store& store_;
  AuditLog* audit_;
  Clock& clock_;
};

}  // namespace berth::security::admission
