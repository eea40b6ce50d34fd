// Matches an image's inventory against the advisory database: each package is looked up by
// its ecosystem ("Debian:12", "Alpine:v3.18", "npm", "PyPI", "crates.io") and, for OS
// packages, by its *source* package (advisories name source packages; libssl3 matches through
// openssl), and judged with the ecosystem's version order (OSV's range evaluation:
// introduced <= v < fixed, v <= last_affected, or a listed version). The report says which
// database it was matched against (import date, generation).
// Thread-safety: pure functions over a thread-safe AdvisoryDb.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "security/scan/advisory_db.h"
#include "security/scan/inventory.h"

namespace berth::security::scan {

struct Finding {
  std::string advisory;
  std::vector<std::string> aliases;
  std::string summary, url;
  Severity severity = Severity::kUnknown;
  double score = 0;
  std::string package, version, type, path, purl;
  std::string source, source_version;  // what the advisory named (OS packages)
  std::string layer;
  std::string ecosystem;
  std::string fixed;  // the first fixed version above the installed one ("": no fix yet)
};

struct ScanReport {
  std::string image;     // the name scanned
  std::string image_id;  // config digest
  std::string user;      // the image's configured user ("" : root), for admission
  int64_t scanned_ms = 0;
  int64_t db_generation = 0;
  int64_t db_imported_ms = 0;
  std::string db_source;
  Inventory inventory;
  std::vector<Finding> findings;  // by severity (worst first), then package
};

// The OSV ecosystem of a package in an image of `distro` ("" when none applies).
std::string EcosystemOf(const Package& p, const Distro& distro);
// Whether `hit` affects `version` under `scheme`; `fixed` gets the fix (or "").
bool Affects(const AdvisoryHit& hit, VersionScheme scheme, std::string_view version,
             std::string* fixed);
Result<std::vector<Finding>> Match(const Inventory& inv, AdvisoryDb& db);

// The report as JSON (berth's own shape), a text table, SARIF 2.1.0, and CycloneDX 1.5 with
// its vulnerabilities section.
Json ReportJson(const ScanReport& r);
std::string ReportTable(const ScanReport& r);
Json ReportSarif(const ScanReport& r);
Json ReportCycloneDx(const ScanReport& r);
// Counts by severity: {"critical":N,...,"fixable":{...}}.
Json SeverityCounts(const std::vector<Finding>& findings);

}  // namespace berth::security::scan
