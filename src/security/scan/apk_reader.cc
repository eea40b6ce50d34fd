// apk's installed database (/lib/apk/db/installed): one package per blank-line-separated
// block of "K:value" lines — P name, V version, o origin (the source package advisories
// name), L license; other keys (files, checksums) are skipped.
#include <fmt/core.h>

#include "security/scan/inventory.h"

namespace berth::security::scan {

Result<void> ReadApkInstalled(std::string_view text, const ImageFile& file,
                              std::vector<Package>* out) {
  std::vector<Package> found;
  Package cur;
  size_t start_line = 0, line_no = 0, pos = 0;
  auto finish = [&]() -> Result<void> {
    if (cur.name.empty() && cur.version.empty()) return {};
    if (cur.name.empty() || cur.version.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: a package entry without {}", file.path, start_line,
                              cur.name.empty() ? "a name (P:)" : "a version (V:)"));
    }
    if (auto v = ValidateApk(cur.version); !v) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("{}:{}: package {}: {}", file.path, start_line, cur.name, v.error().message));
    }
    if (cur.source == cur.name) cur.source.clear();
    cur.type = "apk";
    cur.path = file.path;
    cur.layer = file.layer;
    found.push_back(std::move(cur));
    cur = Package{};
    return {};
  };
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (auto r = finish(); !r) return r;
      continue;
    }
    if (line.size() < 2 || line[1] != ':' || line.find('\0') != std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: \"{}\" is not an apk \"K:value\" line", file.path, line_no,
                              line.substr(0, 60)));
    }
    if (cur.name.empty() && cur.version.empty()) start_line = line_no;
    std::string value(line.substr(2));
    switch (line[0]) {
      case 'P':
        cur.name = value;
        break;
      case 'V':
        cur.version = value;
        break;
      case 'o':
        cur.source = value;
        break;
      case 'L':
        if (!value.empty()) cur.licenses.push_back(value);
        break;
      default:
        break;
    }
  }
  if (auto r = finish(); !r) return r;
  for (auto& p : found) out->push_back(std::move(p));
  return {};
}

}  // namespace berth::security::scan
