// The ignore list: statements that a finding does not apply (VEX "not_affected", with its
// justification) or that its risk is accepted for a while ("accepted"), each with a reason and
// an expiry, scoped to an advisory (or one of its aliases, e.g. a CVE id), and optionally to a
// package, an image and a namespace. Kept in the store under /security/ignores/<id>; reports
// and admission leave ignored findings out while the statement has not expired.
// Thread-safety: pure functions over a thread-safe Store.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "security/scan/matcher.h"
#include "store/store.h"

namespace berth::security::scan {

struct Ignore {
  std::string id;
  std::string advisory;                 // advisory id or alias ("DSA-5484-1", "CVE-2023-38633")
  std::string package;                  // "" : any package
  std::string image;                    // "" : any image (ImageKey form)
  std::string ns;                       // "" : every namespace (and image reports)
  std::string status = "not_affected";  // "not_affected" (VEX) or "accepted"
  std::string justification;            // VEX justification for not_affected
  std::string reason;
  int64_t expires_ms = 0;  // 0: never (not_affected only)
  int64_t created_ms = 0;
  std::string created_by;
};

// {"advisory","package"?,"image"?,"namespace"?,"status"?,"justification"?,"reason",
//  "expires": "2027-01-31" | "90d" | "never"}; kInvalidArgument naming the field.
Result<Ignore> IgnoreFromJson(const Json& j, int64_t now_ms);
Json IgnoreToJson(const Ignore& i);
Result<std::vector<Ignore>> LoadIgnores(store::Store& store);
Result<Ignore> AddIgnore(store::Store& store, Ignore ignore);

// The statement that covers a finding in `ns` ("" : an image report), or null.
const Ignore* FindIgnore(const std::vector<Ignore>& list, std::string_view advisory,
                         const Json& aliases, std::string_view package, std::string_view image,
                         std::string_view ns, int64_t now_ms);
// Moves the covered findings out of `findings`; returns them with their statements.
std::vector<std::pair<Finding, Ignore>> ApplyIgnores(const std::vector<Ignore>& list,
                                                     std::string_view ns,
                                                     std::vector<Finding>* findings,
                                                     std::string_view image, int64_t now_ms);
Json IgnoredJson(const std::vector<std::pair<Finding, Ignore>>& ignored);

}  // namespace berth::security::scan
