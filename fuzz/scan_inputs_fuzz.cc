// Feeds arbitrary bytes to the scanner's parsers: the first byte picks one (OSV record, Debian
// tracker JSON, dpkg status, apk installed db, package-lock.json, Python METADATA, Cargo.lock,
// a CVSS vector), the rest is its input. Beyond "no crash": every error names its file, a
// package read from a database has a name and a version, and the version orders stay
// antisymmetric (compare(a,b) == -compare(b,a) in sign) on the input split in two.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "security/scan/advisory.h"
#include "security/scan/cvss.h"
#include "security/scan/inventory.h"

namespace {

using namespace berth::security::scan;

int Sign(int c) { return (c > 0) - (c < 0); }

void CheckPackages(const berth::Result<void>& r, const std::vector<Package>& pkgs, std::string_view file) {
  if (!r && r.error().message.rfind(file, 0) != 0) std::abort();
  for (const auto& p : pkgs) {
    if (p.name.empty() || p.version.empty()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const ImageFile file{.path = "/db"};
  std::vector<Package> pkgs;
  ReadReport report;
  switch (data[0] % 8) {
    case 0:
      if (auto r = ParseOsv(text, "osv.json", &report); !r && r.error().message.rfind("osv.json", 0) != 0)
        std::abort();
      break;
    case 1:
      if (auto r = ParseDebianTracker(text, "tracker.json", &report);
          !r && r.error().message.rfind("tracker.json", 0) != 0)
        std::abort();
      break;
    case 2:
      CheckPackages(ReadDpkgStatus(text, file, &pkgs), pkgs, "/db");
      break;
    case 3:
      CheckPackages(ReadApkInstalled(text, file, &pkgs), pkgs, "/db");
      break;
    case 4:
      CheckPackages(ReadPackageLock(text, file, &pkgs), pkgs, "/db");
      break;
    case 5:
      CheckPackages(ReadPythonMetadata(text, file, &pkgs), pkgs, "/db");
      break;
    case 6:
      CheckPackages(ReadCargoLock(text, file, &pkgs), pkgs, "/db");
      break;
    case 7:
      (void)ScoreCvss(text);
      break;
  }
  // Version orders on the input cut in two.
  auto cut = text.find(' ');
  if (cut != std::string_view::npos && text.size() < 512) {
    std::string_view a = text.substr(0, cut), b = text.substr(cut + 1);
    for (auto scheme : {VersionScheme::kDpkg, VersionScheme::kApk, VersionScheme::kRpm,
                        VersionScheme::kSemver, VersionScheme::kPep440}) {
      if (Sign(CompareVersions(scheme, a, b)) != -Sign(CompareVersions(scheme, b, a))) std::abort();
      if (CompareVersions(scheme, a, a) != 0) std::abort();
    }
  }
  return 0;
}
