// Language package manifests found anywhere in the image: npm's package-lock.json (lockfile
// v1 "dependencies", v2/v3 "packages"), Python's *.dist-info/METADATA (Name, Version,
// License), Rust's Cargo.lock ([[package]] name/version). Each one a few lines of one shape.
#include <fmt/core.h>

#include "security/scan/inventory.h"

namespace berth::security::scan {
namespace {

Package Lang(std::string name, std::string version, std::string_view type, const ImageFile& f) {
  Package p;
  p.name = std::move(name);
  p.version = std::move(version);
  p.type = std::string(type);
  p.path = f.path;
  p.layer = f.layer;
  return p;
}

void NpmV1(const Json& deps, const ImageFile& f, std::vector<Package>* out) {
  if (!deps.is_object()) return;
  for (const auto& [name, d] : deps.items()) {
    if (!d.is_object()) continue;
    if (d.contains("version") && d["version"].is_string()) {
      out->push_back(Lang(name, d["version"].get<std::string>(), "npm", f));
    }
    if (d.contains("dependencies")) NpmV1(d["dependencies"], f, out);
  }
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

Result<void> ReadPackageLock(std::string_view text, const ImageFile& file,
                             std::vector<Package>* out) {
  auto j = ParseJson(text);
  if (!j)
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {}", file.path, j.error().message));
  if (!j->is_object()) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: not a JSON object", file.path));
  }
  std::vector<Package> found;
  if (j->contains("packages") && (*j)["packages"].is_object()) {
    for (const auto& [key, pkg] : (*j)["packages"].items()) {
      // "" is the project itself; "node_modules/a/node_modules/b" is b.
      auto at = key.rfind("node_modules/");
      if (key.empty() || at == std::string::npos || !pkg.is_object()) continue;
      if (!pkg.contains("version") || !pkg["version"].is_string()) continue;
      std::string name = pkg.contains("name") && pkg["name"].is_string()
                             ? pkg["name"].get<std::string>()
                             : key.substr(at + 13);
      found.push_back(Lang(name, pkg["version"].get<std::string>(), "npm", file));
    }
  } else if (j->contains("dependencies")) {
    NpmV1((*j)["dependencies"], file, &found);
  }
  for (auto& p : found) out->push_back(std::move(p));
  return {};
}

Result<void> ReadPythonMetadata(std::string_view text, const ImageFile& file,
                                std::vector<Package>* out) {
  Package p = Lang("", "", "pypi", file);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (Trim(line).empty()) break;  // the headers end at the first blank line
    if (line.starts_with("Name:")) p.name = std::string(Trim(line.substr(5)));
    if (line.starts_with("Version:")) p.version = std::string(Trim(line.substr(8)));
    if (line.starts_with("License:") && !Trim(line.substr(8)).empty())
      p.licenses.emplace_back(Trim(line.substr(8)));
  }
  if (p.name.empty() || p.version.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: Python package metadata without {}", file.path,
                            p.name.empty() ? "Name:" : "Version:"));
  }
  out->push_back(std::move(p));
  return {};
}

Result<void> ReadCargoLock(std::string_view text, const ImageFile& file,
                           std::vector<Package>* out) {
  std::vector<Package> found;
  bool in_package = false;
  Package cur = Lang("", "", "cargo", file);
  size_t pos = 0, line_no = 0;
  auto finish = [&]() -> Result<void> {
    if (!in_package) return {};
    if (cur.name.empty() || cur.version.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: a [[package]] without name or version", file.path, line_no));
    }
    found.push_back(cur);
    cur = Lang("", "", "cargo", file);
    return {};
  };
  auto quoted = [](std::string_view v) -> std::string {
    v = Trim(v);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
      return std::string(v.substr(1, v.size() - 2));
    return {};
  };
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = Trim(text.substr(pos, nl == std::string_view::npos ? nl : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.starts_with('[')) {
      if (auto r = finish(); !r) return r;
      in_package = line == "[[package]]";
      continue;
    }
    if (!in_package) continue;
    if (line.starts_with("name =") || line.starts_with("name="))
      cur.name = quoted(line.substr(line.find('=') + 1));
    if (line.starts_with("version =") || line.starts_with("version="))
      cur.version = quoted(line.substr(line.find('=') + 1));
  }
  if (auto r = finish(); !r) return r;
  for (auto& p : found) out->push_back(std::move(p));
  return {};
}

}  // namespace berth::security::scan
