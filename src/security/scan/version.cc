#include "security/scan/version.h"

namespace berth::security::scan {

std::string_view VersionSchemeName(VersionScheme scheme) {
  switch (scheme) {
    case VersionScheme::kDpkg:
      return "dpkg";
    case VersionScheme::kApk:
      return "apk";
    case VersionScheme::kRpm:
      return "rpm";
    case VersionScheme::kSemver:
      return "semver";
    case VersionScheme::kPep440:
      return "pep440";
  }
  return "dpkg";
}

int CompareVersions(VersionScheme scheme, std::string_view a, std::string_view b) {
  switch (scheme) {
    case VersionScheme::kDpkg:
      return CompareDpkg(a, b);
    case VersionScheme::kApk:
      return CompareApk(a, b);
    case VersionScheme::kRpm:
      return CompareRpm(a, b);
    case VersionScheme::kSemver:
      return CompareSemver(a, b);
    case VersionScheme::kPep440:
      return ComparePep440(a, b);
  }
  return 0;
}

Result<void> ValidateVersion(VersionScheme scheme, std::string_view v) {
  switch (scheme) {
    case VersionScheme::kDpkg:
      return ValidateDpkg(v);
    case VersionScheme::kApk:
      return ValidateApk(v);
    case VersionScheme::kRpm:
      if (v.empty()) return Fail(ErrorCode::kInvalidArgument, "empty RPM version");
      return {};
    case VersionScheme::kSemver:
      return ValidateSemver(v);
    case VersionScheme::kPep440:
      return ValidatePep440(v);
  }
  return {};
}

}  // namespace berth::security::scan
