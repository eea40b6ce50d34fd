// Advisories as the scanner keeps them, and the readers of the two formats it imports
// offline: OSV JSON (one record a file, a directory of them, or the zip OSV publishes per
// ecosystem) and the Debian security tracker's JSON (package -> CVE -> release).
//
// Reading is strict: a file that does not parse, is truncated, or has a field of the wrong
// type fails with its name and the field's path ("DSA-1.json: affected[0].ranges[0].events[1]:
// ..."), and the import that read it stores nothing. A CVSS vector that does not compute is
// kept as a warning (severity then from the record's own severity, or unknown).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "security/scan/cvss.h"

namespace berth::security::scan {

struct RangeEvent {
  enum class Kind { kIntroduced, kFixed, kLastAffected, kLimit };
  Kind kind = Kind::kIntroduced;
  std::string version;
};

struct AffectedRange {
  std::string type;  // "ECOSYSTEM", "SEMVER" ("GIT" ranges are dropped: no commit to compare)
  std::vector<RangeEvent> events;
};

struct Affected {
  std::string ecosystem;  // "Debian:12", "Alpine:v3.18", "npm", "PyPI", "crates.io", "Go"
  std::string package;    // for Debian: the source package
  std::vector<AffectedRange> ranges;
  std::vector<std::string> versions;  // listed affected versions
};

struct Advisory {
  std::string id;
  std::string summary;
  std::vector<std::string> aliases;  // aliases and upstream (CVE ids)
  std::string published, modified;
  Severity severity = Severity::kUnknown;
  double score = 0;    // CVSS base score when a vector computed
  std::string vector;  // the vector it came from
  std::string url;     // the first reference
  std::vector<Affected> affected;
};

struct ReadReport {
  std::vector<std::string> warnings;
  size_t files = 0;
};

// One OSV record; `origin` names it in errors.
Result<Advisory> ParseOsv(std::string_view json, std::string_view origin, ReadReport* report);
Result<Advisory> ParseOsvJson(const Json& record, std::string_view origin, ReadReport* report);
// The Debian security tracker's JSON (https://security-tracker.debian.org/tracker/data/json):
// one advisory "DEBIAN-<CVE>" per CVE and source package, affected per release with the fixed
// version ("resolved"), or every version ("open"); releases by codename (bookworm ->
// Debian:12).
Result<std::vector<Advisory>> ParseDebianTracker(std::string_view json, std::string_view origin,
                                                 ReadReport* report);
// A file (OSV record, tracker JSON, or an OSV zip), or a directory of OSV records (every
// *.json below it, in name order): everything it holds, or the first error.
Result<std::vector<Advisory>> ReadAdvisories(const std::string& path, ReadReport* report);

}  // namespace berth::security::scan
