// An image's inventory (its SBOM): every package found in its layers — Debian/Ubuntu (dpkg
// status and distroless status.d/), Alpine (apk installed db), and language packages
// (package-lock.json, Python *.dist-info/METADATA, Cargo.lock) — with the source package it
// was built from, its version, the layer it came from and the file that names it.
//
// Readers are one small file each (dpkg_reader.cc, apk_reader.cc, lang_readers.cc), all of
// one shape: given the image's files, the packages or an error naming the file and line. A
// package database that does not parse fails the whole inventory (a scan of half an image
// would report fewer vulnerabilities than there are); nothing is read outside the image
// (ImageFs).
// Thread-safety: pure functions over a read-only ImageFs.
#pragma once

#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "security/scan/image_fs.h"
#include "security/scan/version.h"

namespace berth::security::scan {

struct Package {
  std::string name;            // the binary package (dpkg Package, apk P, npm name, ...)
  std::string version;         // as installed
  std::string source;          // source package it was built from ("" : the same as name)
  std::string source_version;  // its version ("" : the same as version)
  std::string type;            // purl type: "deb", "apk", "npm", "pypi", "cargo", "golang", "maven"
  std::string path;            // the file that names it
  size_t layer = 0;            // index into the image's layers (0: bottom)
  std::vector<std::string> licenses;

  const std::string& SourceName() const { return source.empty() ? name : source; }
  const std::string& SourceVersion() const {
    return source_version.empty() ? version : source_version;
  }
};

// The distribution the image is ("debian" "12", "alpine" "3.18"), from /etc/os-release.
struct Distro {
  std::string id;
  std::string version_id;  // "12", "3.18.4" (apk ecosystems use major.minor)
  std::string pretty;
};

struct Inventory {
  Distro distro;
  std::vector<Package> packages;    // by type, then name
  std::vector<std::string> layers;  // layer ids (diff ids), bottom first, as given
};

// The version scheme of a purl type ("deb" -> dpkg, "npm" -> semver, ...).
VersionScheme SchemeOf(std::string_view type);
// "pkg:deb/debian/bash@5.2.15-2?arch=source&distro=debian-12" and the like.
std::string Purl(const Package& p, const Distro& d);

// Reads every package of the image; `layer_ids` names the layers in the result.
Result<Inventory> ReadInventory(const ImageFs& fs, std::vector<std::string> layer_ids);

// The readers (exported for their tests). Each appends to `out`.
Result<void> ReadDpkgStatus(std::string_view text, const ImageFile& file,
                            std::vector<Package>* out);
Result<void> ReadApkInstalled(std::string_view text, const ImageFile& file,
                              std::vector<Package>* out);
Result<void> ReadPackageLock(std::string_view text, const ImageFile& file,
                             std::vector<Package>* out);
Result<void> ReadPythonMetadata(std::string_view text, const ImageFile& file,
                                std::vector<Package>* out);
Result<void> ReadCargoLock(std::string_view text, const ImageFile& file, std::vector<Package>* out);

// CycloneDX 1.5 and SPDX 2.3 JSON documents of an inventory.
Json CycloneDx(const Inventory& inv, std::string_view image_name, std::string_view image_id,
               int64_t now_ms);
Json Spdx(const Inventory& inv, std::string_view image_name, std::string_view image_id,
          int64_t now_ms);
Json InventoryJson(const Inventory& inv);

}  // namespace berth::security::scan
