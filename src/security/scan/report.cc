// A scan report in the forms `berth security scan -o` offers: JSON, a text table, SARIF
// 2.1.0 (one rule per advisory, one result per affected package, for code-scanning UIs) and
// CycloneDX 1.5 (the SBOM with its vulnerabilities section). Every form names the advisory
// database's import date.
#include <fmt/chrono.h>
#include <fmt/core.h>

#include <array>
#include <chrono>
#include <map>
#include <set>

#include "security/scan/matcher.h"

namespace berth::security::scan {
namespace {

std::string Iso8601(int64_t ms) {
  if (ms <= 0) return "never";
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     std::chrono::sys_seconds(std::chrono::seconds(ms / 1000)));
}

Json FindingJson(const Finding& f) {
  Json j{{"advisory", f.advisory},   {"aliases", f.aliases}, {"severity", SeverityName(f.severity)},
         {"package", f.package},     {"version", f.version}, {"type", f.type},
         {"ecosystem", f.ecosystem}, {"fixed", f.fixed},     {"path", f.path},
         {"layer", f.layer},         {"purl", f.purl},       {"summary", f.summary}};
  if (f.score > 0) j["score"] = f.score;
  if (!f.url.empty()) j["url"] = f.url;
  if (!f.source.empty()) {
    j["source"] = f.source;
    j["source_version"] = f.source_version;
  }
  return j;
}

}  // namespace

Json SeverityCounts(const std::vector<Finding>& findings) {
  Json counts = Json::object(), fixable = Json::object();
  for (auto s : {Severity::kCritical, Severity::kHigh, Severity::kMedium, Severity::kLow,
                 Severity::kNone, Severity::kUnknown}) {
    counts[std::string(SeverityName(s))] = 0;
    fixable[std::string(SeverityName(s))] = 0;
  }
  for (const auto& f : findings) {
    auto name = std::string(SeverityName(f.severity));
    counts[name] = counts[name].get<int>() + 1;
    if (!f.fixed.empty()) fixable[name] = fixable[name].get<int>() + 1;
  }
  counts["fixable"] = std::move(fixable);
  counts["total"] = findings.size();
  return counts;
}

Json ReportJson(const ScanReport& r) {
  Json findings = Json::array();
  for (const auto& f : r.findings) findings.push_back(FindingJson(f));
  return Json{
      {"image", r.image},
      {"image_id", r.image_id},
      {"scanned", Iso8601(r.scanned_ms)},
      {"scanned_ms", r.scanned_ms},
      {"database",
       {{"imported", Iso8601(r.db_imported_ms)},
        {"imported_ms", r.db_imported_ms},
        {"generation", r.db_generation},
        {"source", r.db_source}}},
      {"distro", {{"id", r.inventory.distro.id}, {"version_id", r.inventory.distro.version_id}}},
      {"packages", r.inventory.packages.size()},
      {"summary", SeverityCounts(r.findings)},
      {"findings", std::move(findings)}};
}

std::string ReportTable(const ScanReport& r) {
  std::string out = fmt::format(
      "{} ({}), {} {}: {} packages, {} findings\nadvisory database imported {} (generation "
      "{})\n",
      r.image, r.image_id.substr(0, 19), r.inventory.distro.id, r.inventory.distro.version_id,
      r.inventory.packages.size(), r.findings.size(), Iso8601(r.db_imported_ms), r.db_generation);
  if (r.findings.empty()) return out;
  std::vector<std::array<std::string, 6>> rows;
  rows.push_back({"SEVERITY", "ADVISORY", "PACKAGE", "INSTALLED", "FIXED", "ALIASES"});
  for (const auto& f : r.findings) {
    std::string aliases;
    for (const auto& a : f.aliases) aliases += (aliases.empty() ? "" : ",") + a;
    std::string pkg = f.source.empty() || f.source == f.package
                          ? f.package
                          : fmt::format("{} ({})", f.package, f.source);
    rows.push_back({std::string(SeverityName(f.severity)), f.advisory, pkg, f.version,
                    f.fixed.empty() ? "-" : f.fixed, aliases.empty() ? "-" : aliases});
  }
  std::array<size_t, 6> width{};
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

Json ReportSarif(const ScanReport& r) {
  Json rules = Json::array(), results = Json::array();
  std::set<std::string> seen;
  auto level = [](Severity s) {
    return s >= Severity::kHigh ? "error" : s == Severity::kMedium ? "warning" : "note";
  };
  for (const auto& f : r.findings) {
    if (seen.insert(f.advisory).second) {
      Json rule{
          {"id", f.advisory},
          {"shortDescription", {{"text", f.summary.empty() ? f.advisory : f.summary}}},
          {"properties",
           {{"security-severity", fmt::format("{:.1f}", f.score)},
            {"tags", Json::array({"vulnerability", std::string(SeverityName(f.severity))})}}}};
      if (!f.url.empty()) rule["helpUri"] = f.url;
      rules.push_back(std::move(rule));
    }
    std::string msg = fmt::format("{} {} is affected by {}{}", f.package, f.version, f.advisory,
                                  f.fixed.empty() ? " (no fix yet)" : "; fixed in " + f.fixed);
    results.push_back(
        {{"ruleId", f.advisory},
         {"level", level(f.severity)},
         {"message", {{"text", msg}}},
         {"locations",
          Json::array(
              {Json{{"physicalLocation",
                     {{"artifactLocation",
                       {{"uri", f.path.starts_with('/') ? f.path.substr(1) : f.path}}}}},
                    {"logicalLocations",
                     Json::array({Json{{"name", r.image}, {"kind", "container-image"}}})}}})},
         {"properties", {{"purl", f.purl}, {"layer", f.layer}}}});
  }
  return Json{
      {"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
      {"version", "2.1.0"},
      {"runs", Json::array({Json{
                   {"tool",
                    {{"driver",
                      {{"name", "berth"},
                       {"informationUri", "https://berth.invalid/docs/security"},
                       {"rules", std::move(rules)}}}}},
                   {"results", std::move(results)},
                   {"properties",
                    {{"image", r.image}, {"databaseImported", Iso8601(r.db_imported_ms)}}}}})}};
}

Json ReportCycloneDx(const ScanReport& r) {
  Json bom = CycloneDx(r.inventory, r.image, r.image_id, r.scanned_ms);
  std::map<std::string, Json> by_id;
  for (const auto& f : r.findings) {
    auto [it, fresh] = by_id.try_emplace(f.advisory);
    Json& v = it->second;
    if (fresh) {
      v = Json{{"id", f.advisory},
               {"source", {{"name", f.ecosystem}}},
               {"ratings", Json::array({Json{{"severity", SeverityName(f.severity)}}})},
               {"description", f.summary},
               {"affects", Json::array()}};
      if (f.score > 0) {
        v["ratings"][0]["score"] = f.score;
        v["ratings"][0]["method"] = "CVSSv31";
      }
      if (!f.url.empty()) v["source"]["url"] = f.url;
      if (!f.fixed.empty()) v["recommendation"] = "upgrade to " + f.fixed;
      if (!f.aliases.empty()) {
        Json refs = Json::array();
        for (const auto& a : f.aliases)
          refs.push_back({{"id", a}, {"source", {{"name", "alias"}}}});
        v["references"] = std::move(refs);
      }
    }
    v["affects"].push_back({{"ref", f.purl + "#" + f.path}});
  }
  Json vulns = Json::array();
  for (auto& [id, v] : by_id) vulns.push_back(std::move(v));
  bom["vulnerabilities"] = std::move(vulns);
  bom["metadata"]["properties"].push_back(
      {{"name", "berth:advisories_imported"}, {"value", Iso8601(r.db_imported_ms)}});
  return bom;
}

}  // namespace berth::security::scan
