#include "security/scan/ignores.h"

#include <fmt/core.h>
#include <openssl/rand.h>

#include <chrono>
#include <set>

#include "security/authz.h"
#include "security/scan/service.h"

namespace berth::security::scan {
namespace {

const std::set<std::string, std::less<>> kJustifications = {
    "component_not_present", "vulnerable_code_not_present", "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary", "inline_mitigations_already_exist"};

Error Bad(std::string_view field, std::string_view why) {
  return Error(ErrorCode::kInvalidArgument, fmt::format("ignore: {}: {}", field, why));
}

// "2027-01-31" (midnight UTC), "90d" (from now), "never" (0).
Result<int64_t> ParseExpiry(std::string_view v, int64_t now_ms) {
  if (v == "never") return 0;
  if (v.size() >= 2 && v.back() == 'd') {
    int64_t days = 0;
    for (char c : v.substr(0, v.size() - 1)) {
      if (c < '0' || c > '9' || days > 100000)
        return std::unexpected(Bad("expires", "bad number of days"));
      days = days * 10 + (c - '0');
    }
    if (days == 0) return std::unexpected(Bad("expires", "0d has already expired"));
    return now_ms + days * 86400000;
  }
  int y = 0, m = 0, d = 0;
  if (v.size() == 10 && std::sscanf(std::string(v).c_str(), "%4d-%2d-%2d", &y, &m, &d) == 3 &&
      m >= 1 && m <= 12 && d >= 1 && d <= 31) {
    using namespace std::chrono;
    auto ymd =
        year_month_day{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return std::unexpected(Bad("expires", fmt::format("{} is not a date", v)));
    int64_t ms = duration_cast<milliseconds>(sys_days{ymd}.time_since_epoch()).count();
    if (ms <= now_ms) return std::unexpected(Bad("expires", fmt::format("{} is in the past", v)));
    return ms;
  }
  return std::unexpected(
      Bad("expires",
          fmt::format("\"{}\": want a date (2027-01-31), days (90d) or never", v.substr(0, 40))));
}

std::string RandomId() {
  unsigned char b[6];
  RAND_bytes(b, sizeof b);
  return fmt::format("{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3], b[4], b[5]);
}

}  // namespace

Result<Ignore> IgnoreFromJson(const Json& j, int64_t now_ms) {
  if (!j.is_object()) return std::unexpected(Bad("body", "must be an object"));
  for (const auto& [k, v] : j.items()) {
    static const std::set<std::string> kFields = {"advisory",  "package", "image",
                                                  "namespace", "status",  "justification",
                                                  "reason",    "expires"};
    if (!kFields.contains(k)) return std::unexpected(Bad(k, "unknown field"));
    if (!v.is_string()) return std::unexpected(Bad(k, "must be a string"));
  }
  Ignore i;
  i.advisory = j.value("advisory", "");
  i.package = j.value("package", "");
  i.image = j.value("image", "");
  if (!i.image.empty()) i.image = ImageKey(i.image);
  i.ns = j.value("namespace", "");
  i.status = j.value("status", "not_affected");
  i.justification = j.value("justification", "");
  i.reason = j.value("reason", "");
  i.created_ms = now_ms;
  if (i.advisory.empty() || i.advisory.size() > 128) {
    return std::unexpected(Bad("advisory", "needs the advisory id or an alias (CVE-...)"));
  }
  if (!i.ns.empty()) {
    if (auto v = ValidateNamespaceName(i.ns); !v) return std::unexpected(v.error());
  }
  if (i.status != "not_affected" && i.status != "accepted") {
    return std::unexpected(Bad("status", "want not_affected (VEX) or accepted"));
  }
  if (!i.justification.empty() && !kJustifications.contains(i.justification)) {
    return std::unexpected(Bad("justification",
                               "want a VEX justification: component_not_present, "
                               "vulnerable_code_not_present, vulnerable_code_not_in_execute_path, "
                               "vulnerable_code_cannot_be_controlled_by_adversary or "
                               "inline_mitigations_already_exist"));
  }
  if (i.reason.empty() || i.reason.size() > 1024) {
    return std::unexpected(Bad("reason", "needs a reason (1-1024 characters): why it is safe"));
  }
  if (!j.contains("expires")) {
    return std::unexpected(
        Bad("expires", "needs an expiry: a date (2027-01-31), days (90d) or never"));
  }
  auto exp = ParseExpiry(j["expires"].get<std::string>(), now_ms);
  if (!exp) return std::unexpected(exp.error());
  if (*exp == 0 && i.status != "not_affected") {
    return std::unexpected(
        Bad("expires", "an accepted risk must expire (never is for not_affected)"));
  }
  i.expires_ms = *exp;
  return i;
}

Json IgnoreToJson(const Ignore& i) {
  return Json{{"id", i.id},
              {"advisory", i.advisory},
              {"package", i.package},
              {"image", i.image},
              {"namespace", i.ns},
              {"status", i.status},
              {"justification", i.justification},
              {"reason", i.reason},
              {"expires_ms", i.expires_ms},
              {"created_ms", i.created_ms},
              {"created_by", i.created_by}};
}

Result<std::vector<Ignore>> LoadIgnores(store::Store& store) {
  auto got = store.Get(kIgnoresPrefix, {.prefix = true});
  if (!got) return std::unexpected(got.error());
  std::vector<Ignore> out;
  for (const auto& kv : got->kvs) {
    auto j = ParseJson(kv.value);
    if (!j || !j->is_object()) continue;
    Ignore i;
    i.id = j->value("id", "");
    i.advisory = j->value("advisory", "");
    i.package = j->value("package", "");
    i.image = j->value("image", "");
    i.ns = j->value("namespace", "");
    i.status = j->value("status", "not_affected");
    i.justification = j->value("justification", "");
    i.reason = j->value("reason", "");
    i.expires_ms = j->value("expires_ms", int64_t{0});
    i.created_ms = j->value("created_ms", int64_t{0});
    i.created_by = j->value("created_by", "");
    out.push_back(std::move(i));
  }
  return out;
}

Result<Ignore> AddIgnore(store::Store& store, Ignore ignore) {
  ignore.id = RandomId();
  auto r = store.Put(std::string(kIgnoresPrefix) + ignore.id, IgnoreToJson(ignore).dump());
  if (!r) return std::unexpected(r.error());
  return ignore;
}

const Ignore* FindIgnore(const std::vector<Ignore>& list, std::string_view advisory,
                         const Json& aliases, std::string_view package, std::string_view image,
                         std::string_view ns, int64_t now_ms) {
  for (const auto& i : list) {
    if (i.expires_ms != 0 && i.expires_ms <= now_ms) continue;
    if (!i.ns.empty() && i.ns != ns) continue;
    if (!i.package.empty() && i.package != package) continue;
    if (!i.image.empty() && i.image != image) continue;
    bool named = i.advisory == advisory;
    if (!named && aliases.is_array()) {
      for (const auto& a : aliases)
        named = named || (a.is_string() && a.get<std::string>() == i.advisory);
    }
    if (named) return &i;
  }
  return nullptr;
}

std::vector<std::pair<Finding, Ignore>> ApplyIgnores(const std::vector<Ignore>& list,
                                                     std::string_view ns,
                                                     std::vector<Finding>* findings,
                                                     std::string_view image, int64_t now_ms) {
  std::vector<std::pair<Finding, Ignore>> ignored;
  std::vector<Finding> kept;
  const std::string key = ImageKey(image);
  for (auto& f : *findings) {
    if (const Ignore* i =
            FindIgnore(list, f.advisory, Json(f.aliases), f.package, key, ns, now_ms)) {
      ignored.emplace_back(std::move(f), *i);
    } else {
      kept.push_back(std::move(f));
    }
  }
  *findings = std::move(kept);
  return ignored;
}

Json IgnoredJson(const std::vector<std::pair<Finding, Ignore>>& ignored) {
  Json out = Json::array();
  for (const auto& [f, i] : ignored) {
    out.push_back({{"advisory", f.advisory},
                   {"package", f.package},
                   {"severity", SeverityName(f.severity)},
                   {"ignore", i.id},
                   {"status", i.status},
                   {"reason", i.reason}});
  }
  return out;
}

}  // namespace berth::security::scan
