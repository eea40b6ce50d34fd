// CVSS base scores computed from vectors (FIRST's CVSS v3.1 specification §7, which v3.0
// vectors follow too, and CVSS v2's guide §3.2.1), and the qualitative severity of a score.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace berth::security::scan {

enum class Severity { kUnknown = 0, kNone, kLow, kMedium, kHigh, kCritical };

std::string_view SeverityName(Severity s);  // "unknown", "none", "low", ...
// "low", "LOW", "moderate" (GHSA), "important" (Red Hat) ...; kInvalidArgument otherwise.
Result<Severity> ParseSeverity(std::string_view s);
// v3 bands (none 0, low < 4, medium < 7, high < 9, critical).
Severity SeverityOfScore(double score);

struct CvssScore {
  double score = 0;
  Severity severity = Severity::kUnknown;
  int version = 0;  // 2 or 3
};

// "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" (or CVSS:3.0/...) and v2's
// "AV:N/AC:L/Au:N/C:P/I:P/A:P"; temporal and environmental metrics are accepted and ignored.
// kInvalidArgument naming the metric when a base metric is missing, repeated or unknown;
// kFailedPrecondition for CVSS:4.0 vectors (not computed: the severity comes from elsewhere).
Result<CvssScore> ScoreCvss(std::string_view vector);

}  // namespace berth::security::scan
