// dpkg's database: /var/lib/dpkg/status (and distroless images' /var/lib/dpkg/status.d/*),
// deb822 stanzas separated by blank lines. Only packages whose Status is "install ok
// installed" count; "Source: name (version)" names the source package and, when it differs,
// its version. A line that is neither "Field: value" nor a continuation, a stanza without
// Package or Version, or a version dpkg would refuse is an error naming file and line.
#include <fmt/core.h>

#include <map>

#include "security/scan/inventory.h"

namespace berth::security::scan {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

struct Stanza {
  std::map<std::string, std::string, std::less<>> fields;
  size_t line = 0;  // where it starts
};

Result<void> Finish(const Stanza& st, const ImageFile& file, std::vector<Package>* out) {
  if (st.fields.empty()) return {};
  auto field = [&](std::string_view k) -> std::string {
    auto it = st.fields.find(k);
    return it == st.fields.end() ? std::string() : it->second;
  };
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", file.path, st.line, why));
  };
  const std::string name = field("Package");
  if (name.empty()) return bad("a package entry without \"Package:\"");
  // status.d entries (distroless) have no Status: they are installed by construction.
  const std::string status = field("Status");
  if (!status.empty() && status != "install ok installed") return {};
  Package p;
  p.name = name;
  p.version = field("Version");
  if (p.version.empty()) return bad(fmt::format("package {} has no \"Version:\"", name));
  if (auto v = ValidateDpkg(p.version); !v) {
    return bad(fmt::format("package {}: {}", name, v.error().message));
  }
  std::string source = field("Source");
  if (!source.empty()) {
    if (auto paren = source.find('('); paren != std::string::npos) {
      auto close = source.find(')', paren);
      if (close == std::string::npos)
        return bad(
            fmt::format("package {}: Source \"{}\" has an "
                        "unclosed '('",
                        name, source));
      p.source_version =
          std::string(Trim(std::string_view(source).substr(paren + 1, close - paren - 1)));
      if (auto v = ValidateDpkg(p.source_version); !v) {
        return bad(fmt::format("package {}: source {}", name, v.error().message));
      }
      source = std::string(Trim(std::string_view(source).substr(0, paren)));
    }
    if (source != name) p.source = source;
  }
  p.type = "deb";
  p.path = file.path;
  p.layer = file.layer;
  out->push_back(std::move(p));
  return {};
}

}  // namespace

Result<void> ReadDpkgStatus(std::string_view text, const ImageFile& file,
                            std::vector<Package>* out) {
  Stanza st;
  std::string last;
  size_t line_no = 0;
  size_t pos = 0;
  std::vector<Package> found;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (line.find('\0') != std::string_view::npos) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("{}:{}: a NUL byte: this is not a dpkg status file", file.path, line_no));
    }
    if (Trim(line).empty()) {
      if (auto r = Finish(st, file, &found); !r) return r;
      st = Stanza{};
      last.clear();
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (last.empty()) {
        return Fail(
            ErrorCode::kInvalidArgument,
            fmt::format("{}:{}: a continuation line with no field before it", file.path, line_no));
      }
      continue;  // multi-line values (Description, Conffiles): not needed
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("{}:{}: \"{}\" is not \"Field: value\"",
                                                           file.path, line_no, line.substr(0, 60)));
    }
    if (st.fields.empty()) st.line = line_no;
    last = std::string(line.substr(0, colon));
    for (char c : last) {
      if (c <= ' ' || c > '~') {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}:{}: field name \"{}\" is not printable ASCII", file.path,
                                line_no, last.substr(0, 40)));
      }
    }
    st.fields[last] = std::string(Trim(line.substr(colon + 1)));
  }
  if (auto r = Finish(st, file, &found); !r) return r;
  for (auto& p : found) out->push_back(std::move(p));
  return {};
}

}  // namespace berth::security::scan
