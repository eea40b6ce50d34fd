// The Debian security tracker's JSON: {source package: {CVE or TEMP id: {"description",
// "releases": {codename: {"status", "fixed_version", "urgency"}}}}}. Each (CVE, package) is
// one advisory DEBIAN-<CVE> (osv.dev's name for them) affecting "Debian:<major>" per release:
// resolved with a fixed version (fixed "0": never affected, left out), or open/undetermined
// (every version, no fix yet). The urgency is the severity (no CVSS in the tracker).
#include <fmt/core.h>

#include <map>

#include "core/json.h"
#include "security/scan/advisory.h"

namespace berth::security::scan {
namespace {

const std::map<std::string, std::string, std::less<>>& Codenames() {
  static const auto* kMap = new std::map<std::string, std::string, std::less<>>{
      {"jessie", "8"},    {"stretch", "9"}, {"buster", "10"}, {"bullseye", "11"},
      {"bookworm", "12"}, {"trixie", "13"}, {"forky", "14"}};
  return *kMap;
}

Error Bad(std::string_view origin, std::string_view where, std::string_view why) {
  return Error(ErrorCode::kInvalidArgument, fmt::format("{}: {}: {}", origin, where, why));
}

}  // namespace

Result<std::vector<Advisory>> ParseDebianTracker(std::string_view json, std::string_view origin,
                                                 ReadReport* report) {
  auto j = ParseJson(json);
  if (!j)
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {}", origin, j.error().message));
  if (!j->is_object()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: the tracker's JSON must be an object of source packages", origin));
  }
  std::vector<Advisory> out;
  for (const auto& [package, cves] : j->items()) {
    if (!cves.is_object())
      return std::unexpected(Bad(origin, package, "must be an object of CVEs"));
    for (const auto& [cve, info] : cves.items()) {
      const std::string where = package + "." + cve;
      if (!info.is_object()) return std::unexpected(Bad(origin, where, "must be an object"));
      if (!cve.starts_with("CVE-")) continue;  // TEMP-... ids name nothing others can look up
      Advisory adv;
      adv.id = "DEBIAN-" + cve;
      adv.aliases = {cve};
      adv.modified = "";
      if (info.contains("description") && info["description"].is_string())
        adv.summary = info["description"].get<std::string>().substr(0, 200);
      adv.url = "https://security-tracker.debian.org/tracker/" + cve;
      if (!info.contains("releases") || !info["releases"].is_object()) {
        return std::unexpected(Bad(origin, where + ".releases", "must be an object"));
      }
      Severity worst = Severity::kUnknown;
      for (const auto& [codename, rel] : info["releases"].items()) {
        const std::string w = where + ".releases." + codename;
        if (!rel.is_object() || !rel.contains("status") || !rel["status"].is_string()) {
          return std::unexpected(Bad(origin, w, "needs \"status\" (string)"));
        }
        auto major = Codenames().find(codename);
        if (major == Codenames().end()) continue;  // sid, experimental: no image claims them
        const std::string status = rel["status"].get<std::string>();
        std::string fixed;
        if (rel.contains("fixed_version")) {
          if (!rel["fixed_version"].is_string()) {
            return std::unexpected(Bad(origin, w + ".fixed_version", "must be a string"));
          }
          fixed = rel["fixed_version"].get<std::string>();
        }
        if (rel.contains("urgency") && rel["urgency"].is_string()) {
          std::string u = rel["urgency"].get<std::string>();
          if (auto pos = u.find('*'); pos != std::string::npos) u.erase(pos);
          if (auto s = ParseSeverity(u); s && *s > worst) worst = *s;
        }
        Affected a;
        a.ecosystem = "Debian:" + major->second;
        a.package = package;
        AffectedRange r{.type = "ECOSYSTEM", .events = {{RangeEvent::Kind::kIntroduced, "0"}}};
        if (status == "resolved") {
          if (fixed.empty() || fixed == "0") continue;  // not affected in this release
          r.events.push_back({RangeEvent::Kind::kFixed, fixed});
        } else if (status != "open" && status != "undetermined") {
          if (report)
            report->warnings.push_back(
                fmt::format("{}: {}: unknown status \"{}\"", origin, w, status));
          continue;
        }
        a.ranges.push_back(std::move(r));
        adv.affected.push_back(std::move(a));
      }
      if (adv.affected.empty()) continue;
      adv.severity = worst;
      out.push_back(std::move(adv));
    }
  }
  return out;
}

}  // namespace berth::security::scan
