#include "security/scan/inventory.h"

#include <fmt/core.h>

#include <algorithm>
#include <tuple>

namespace berth::security::scan {
namespace {

constexpr uint64_t kMaxDbBytes = 256ull << 20;       // dpkg status, apk installed
constexpr uint64_t kMaxManifestBytes = 64ull << 20;  // package-lock.json, Cargo.lock
constexpr uint64_t kMaxMetadataBytes = 4ull << 20;   // one METADATA

using Reader = Result<void> (*)(std::string_view, const ImageFile&, std::vector<Package>*);

// Reads one package database file when the image has it. A missing file is no error; a
// symlink to nothing, a file that is not regular, too large or does not parse is one.
Result<void> ReadDb(const ImageFs& fs, std::string_view path, uint64_t max, Reader reader,
                    std::vector<Package>* out) {
  auto file = fs.Stat(path);
  if (!file) {
    if (file.error().code != ErrorCode::kNotFound) return std::unexpected(file.error());
    std::string target = fs.SymlinkTarget(path);
    if (target.empty()) return {};
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{} is a symlink to {}, which the image does not have (a package "
                            "database outside the image is never read)",
                            path, target));
  }
  auto text = fs.ReadFile(file->path, max);
  if (!text) return std::unexpected(text.error());
  return reader(*text, *file, out);
}

std::string Unquote(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
    v = v.substr(1, v.size() - 2);
  return std::string(v);
}

Result<Distro> ReadDistro(const ImageFs& fs) {
  Distro d;
  for (const char* path : {"/etc/os-release", "/usr/lib/os-release"}) {
    auto text = fs.ReadFile(path, 64 << 10);
    if (!text) {
      if (text.error().code == ErrorCode::kNotFound) continue;
      return std::unexpected(text.error());
    }
    size_t pos = 0;
    while (pos < text->size()) {
      size_t nl = text->find('\n', pos);
      std::string_view line =
          std::string_view(*text).substr(pos, nl == std::string::npos ? nl : nl - pos);
      pos = nl == std::string::npos ? text->size() : nl + 1;
      auto eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      auto key = line.substr(0, eq);
      std::string value = Unquote(line.substr(eq + 1));
      if (key == "ID") d.id = value;
      if (key == "VERSION_ID") d.version_id = value;
      if (key == "PRETTY_NAME") d.pretty = value;
    }
    break;
  }
  if (d.id == "alpine" || d.id.empty()) {
    if (auto rel = fs.ReadFile("/etc/alpine-release", 4096); rel) {
      d.id = "alpine";
      std::string v = *rel;
      while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
      d.version_id = v;
    }
  }
  if (d.id == "debian" && d.version_id.empty()) {  // testing/sid: /etc/debian_version
    if (auto dv = fs.ReadFile("/etc/debian_version", 4096); dv) {
      d.version_id = dv->substr(0, dv->find_first_of(".\n/"));
    }
  }
  return d;
}

}  // namespace

VersionScheme SchemeOf(std::string_view type) {
  if (type == "deb") return VersionScheme::kDpkg;
  if (type == "apk") return VersionScheme::kApk;
  if (type == "rpm") return VersionScheme::kRpm;
  if (type == "pypi") return VersionScheme::kPep440;
  return VersionScheme::kSemver;  // npm, cargo, golang (maven: near enough for x.y.z)
}

std::string Purl(const Package& p, const Distro& d) {
  std::string ns;
  std::string q;
  if (p.type == "deb" || p.type == "apk" || p.type == "rpm") {
    ns = d.id.empty() ? std::string(p.type == "apk" ? "alpine" : "debian") + "/" : d.id + "/";
    q = fmt::format("?distro={}-{}", d.id, d.version_id);
    if (!p.source.empty()) q += "&upstream=" + p.source;
  }
  std::string name = p.name;
  if (p.type == "npm" && name.starts_with('@')) {  // scoped: pkg:npm/%40scope/name
    name = "%40" + name.substr(1);
  }
  return fmt::format("pkg:{}/{}{}@{}{}", p.type, ns, name, p.version, q);
}

Result<Inventory> ReadInventory(const ImageFs& fs, std::vector<std::string> layer_ids) {
  Inventory inv;
  inv.layers = std::move(layer_ids);
  auto distro = ReadDistro(fs);
  if (!distro) return std::unexpected(distro.error());
  inv.distro = std::move(*distro);
  auto& pkgs = inv.packages;
  if (auto r = ReadDb(fs, "/var/lib/dpkg/status", kMaxDbBytes, ReadDpkgStatus, &pkgs); !r)
    return std::unexpected(r.error());
  if (auto names = fs.List("/var/lib/dpkg/status.d"); names) {
    for (const auto& n : *names) {
      if (n.ends_with(".md5sums")) continue;
      if (auto r = ReadDb(fs, "/var/lib/dpkg/status.d/" + n, kMaxDbBytes, ReadDpkgStatus, &pkgs);
          !r)
        return std::unexpected(r.error());
    }
  } else if (names.error().code != ErrorCode::kNotFound) {
    return std::unexpected(names.error());
  }
  if (auto r = ReadDb(fs, "/lib/apk/db/installed", kMaxDbBytes, ReadApkInstalled, &pkgs); !r)
    return std::unexpected(r.error());
  // Language manifests anywhere (not in the kernel's trees).
  Result<void> failed;
  auto walked = fs.Walk(
      [&](const ImageFile& f) {
        std::string_view base = f.path;
        base.remove_prefix(base.rfind('/') + 1);
        Reader reader = nullptr;
        uint64_t max = kMaxManifestBytes;
        if (base == "package-lock.json" && f.path.find("/node_modules/") == std::string::npos) {
          reader = ReadPackageLock;
        } else if (base == "Cargo.lock") {
          reader = ReadCargoLock;
        } else if (base == "METADATA" && f.path.size() > 20 &&
                   f.path.substr(0, f.path.size() - 9).ends_with(".dist-info")) {
          reader = ReadPythonMetadata;
          max = kMaxMetadataBytes;
        }
        if (reader == nullptr) return true;
        auto text = fs.ReadFile(f.path, max);
        if (!text) {
          failed = std::unexpected(text.error());
          return false;
        }
        failed = reader(*text, f, &pkgs);
        return failed.has_value();
      },
      {"/proc", "/sys", "/dev"});
  if (!walked) return std::unexpected(walked.error());
  if (!failed) return std::unexpected(failed.error());
  std::stable_sort(pkgs.begin(), pkgs.end(), [](const Package& a, const Package& b) {
    return std::tie(a.type, a.name, a.version, a.path) <
           std::tie(b.type, b.name, b.version, b.path);
  });
  return inv;
}

Json InventoryJson(const Inventory& inv) {
  Json pkgs = Json::array();
  for (const auto& p : inv.packages) {
    Json j{{"name", p.name},
           {"version", p.version},
           {"type", p.type},
           {"purl", Purl(p, inv.distro)},
           {"path", p.path},
           {"layer", p.layer < inv.layers.size() ? inv.layers[p.layer] : std::string()}};
    if (!p.source.empty()) j["source"] = p.source;
    if (!p.source_version.empty()) j["source_version"] = p.source_version;
    if (!p.licenses.empty()) j["licenses"] = p.licenses;
    pkgs.push_back(std::move(j));
  }
  return Json{{"distro", {{"id", inv.distro.id}, {"version_id", inv.distro.version_id}}},
              {"layers", inv.layers},
              {"packages", std::move(pkgs)}};
}

}  // namespace berth::security::scan
