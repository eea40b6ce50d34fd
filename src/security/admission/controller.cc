#include "security/admission/controller.h"

#include <fmt/core.h>

#include "security/scan/ignores.h"
#include "security/scan/service.h"

namespace berth::security::admission {

Result<std::optional<Policy>> AdmissionController::PolicyOf(std::string_view ns) {
  auto got = store_.Get(std::string(scan::kPoliciesPrefix) + std::string(ns));
  if (!got) return std::unexpected(got.error());
  if (got->kvs.empty()) return std::optional<Policy>();
  auto j = ParseJson(got->kvs[0].value);
  if (!j || !j->contains("text")) {
    return Fail(ErrorCode::kInternal,
                fmt::format("the stored policy of namespace {} is corrupt", ns));
  }
  auto p = ParsePolicy((*j)["text"].get<std::string>(), ns, fmt::format("policy of {}", ns));
  if (!p) return std::unexpected(p.error());
  return std::optional<Policy>(std::move(*p));
}

Result<void> AdmissionController::PutPolicy(std::string_view ns, std::string_view text) {
  auto p = ParsePolicy(text, ns, "policy");
  if (!p) return std::unexpected(p.error());
  Json value{{"text", std::string(text)}, {"policy", PolicyToJson(*p)}};
  auto r = store_.Put(std::string(scan::kPoliciesPrefix) + std::string(ns), value.dump());
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<bool> AdmissionController::DeletePolicy(std::string_view ns) {
  auto r = store_.Delete(std::string(scan::kPoliciesPrefix) + std::string(ns));
  if (!r) return std::unexpected(r.error());
  return r->deleted > 0;
}

ImageFacts AdmissionController::Facts(const std::string& image, std::string_view ns,
                                      int64_t now_ms) {
  ImageFacts f;
  const std::string key = scan::ImageKey(image);
  auto got = store_.Get(std::string(scan::kScansPrefix) + key);
  if (!got || got->kvs.empty()) return f;
  auto j = ParseJson(got->kvs[0].value);
  if (!j || !j->is_object()) return f;
  if (j->contains("error")) {
    f.error = j->value("error", "");
    return f;
  }
  f.scanned = true;
  f.user = j->value("user", "");
  auto ignores = scan::LoadIgnores(store_);
  for (const auto& x : j->value("findings", Json::array())) {
    if (ignores &&
        scan::FindIgnore(*ignores, x.value("advisory", ""), x.value("aliases", Json::array()),
                         x.value("package", ""), key, ns, now_ms)) {
      continue;
    }
    auto sev = scan::ParseSeverity(x.value("severity", "unknown"));
    f.findings.push_back({.advisory = x.value("advisory", ""),
                          .package = x.value("package", ""),
                          .fixed = x.value("fixed", ""),
                          .severity = sev ? *sev : scan::Severity::kUnknown});
  }
  return f;
}

Result<Decision> AdmissionController::Check(std::string_view ns, std::string_view what,
                                            const std::vector<Container>& containers,
                                            const Principal& who, bool dry_run) {
  auto policy = PolicyOf(ns);
  if (!policy) return std::unexpected(policy.error());
  if (!*policy) return Decision{.mode = Mode::kAudit};  // no policy: nothing to say
  const int64_t now = clock_.WallMillis();
  Decision d = Evaluate(**policy, containers,
                        [&](const std::string& image) { return Facts(image, ns, now); });
  if (audit_) {
    std::string verdict = !d.admitted()           ? "refused"
                          : d.violations.empty()  ? "admitted"
                          : d.mode == Mode::kWarn ? "admitted with warnings"
                                                  : "admitted (audit)";
    (void)audit_->Record(
        {.actor = who.name,
         .token_id = who.token_id,
         .action = fmt::format("admission {}{}", what, dry_run ? " (dry run)" : ""),
         .status = d.admitted() ? 200 : 403,
         .result = d.violations.empty() ? verdict : verdict + ": " + d.Message(ns, what)});
  }
  return d;
}

}  // namespace berth::security::admission
