// Version comparison, exactly as each ecosystem's own tool orders versions: dpkg (Debian,
// Ubuntu), apk (Alpine), RPM, semver (npm, Cargo, Go modules) and PEP 440 (Python). An
// advisory's affected range is judged with the scheme of its ecosystem only.
//
// Each scheme is one file (dpkg_version.cc, apk_version.cc, ...), tested against its reference
// (`dpkg --compare-versions`, librpm's rpmvercmp, Python's `packaging`, the specifications).
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "core/error.h"

namespace berth::security::scan {

enum class VersionScheme { kDpkg, kApk, kRpm, kSemver, kPep440 };

std::string_view VersionSchemeName(VersionScheme scheme);

// < 0, 0, > 0 as a is older than, the same as, or newer than b. Versions that do not parse
// compare as their scheme's tool compares them (dpkg, apk and RPM order any string; semver
// and PEP 440 fall back to a plain byte comparison after their valid prefix).
int CompareVersions(VersionScheme scheme, std::string_view a, std::string_view b);
// kInvalidArgument naming what is wrong when `v` is not a version of the scheme.
Result<void> ValidateVersion(VersionScheme scheme, std::string_view v);

// The schemes, one each.
int CompareDpkg(std::string_view a, std::string_view b);
Result<void> ValidateDpkg(std::string_view v);
int CompareApk(std::string_view a, std::string_view b);
Result<void> ValidateApk(std::string_view v);
int CompareRpm(std::string_view a, std::string_view b);         // [epoch:]version[-release]
int RpmSegmentCompare(std::string_view a, std::string_view b);  // librpm's rpmvercmp
int CompareSemver(std::string_view a, std::string_view b);
Result<void> ValidateSemver(std::string_view v);
int ComparePep440(std::string_view a, std::string_view b);
Result<void> ValidatePep440(std::string_view v);

}  // namespace berth::security::scan
