// dpkg's version order (lib/dpkg/version.c: parseversion, verrevcmp, dpkg_version_compare):
// [epoch:]upstream[-revision]; '~' sorts before everything, even the end; letters before
// other characters; digit runs compare as numbers.
#include <fmt/core.h>

#include <cstdint>
#include <string>

#include "security/scan/version.h"

namespace berth::security::scan {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

int Order(int c) {
  if (IsDigit(static_cast<char>(c))) return 0;
  if (IsAlpha(static_cast<char>(c))) return c;
  if (c == '~') return -1;
  if (c != 0) return c + 256;
  return 0;
}

int VerRevCmp(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  auto at = [](std::string_view s, size_t k) -> int {
    return k < s.size() ? static_cast<unsigned char>(s[k]) : 0;
  };
  while (i < a.size() || j < b.size()) {
    int first_diff = 0;
    while ((at(a, i) && !IsDigit(static_cast<char>(at(a, i)))) ||
           (at(b, j) && !IsDigit(static_cast<char>(at(b, j))))) {
      int ac = Order(at(a, i));
      int bc = Order(at(b, j));
      if (ac != bc) return ac - bc;
      ++i;
      ++j;
    }
    while (at(a, i) == '0') ++i;
    while (at(b, j) == '0') ++j;
    while (IsDigit(static_cast<char>(at(a, i))) && IsDigit(static_cast<char>(at(b, j)))) {
      if (!first_diff) first_diff = at(a, i) - at(b, j);
      ++i;
      ++j;
    }
    if (IsDigit(static_cast<char>(at(a, i)))) return 1;
    if (IsDigit(static_cast<char>(at(b, j)))) return -1;
    if (first_diff) return first_diff;
  }
  return 0;
}

struct DpkgVersion {
  uint64_t epoch = 0;
  std::string_view upstream;
  std::string_view revision;
};

// As dpkg's parseversion, leniently (the order of any string is defined; Validate says what
// dpkg would refuse).
DpkgVersion Split(std::string_view v) {
  DpkgVersion out;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (auto colon = v.find(':'); colon != std::string_view::npos) {
    uint64_t e = 0;
    for (char c : v.substr(0, colon)) {
      if (!IsDigit(c)) break;
      e = e * 10 + static_cast<uint64_t>(c - '0');
      if (e > INT32_MAX) break;
    }
    out.epoch = e;
    v.remove_prefix(colon + 1);
  }
  if (auto dash = v.rfind('-'); dash != std::string_view::npos) {
    out.upstream = v.substr(0, dash);
    out.revision = v.substr(dash + 1);
  } else {
    out.upstream = v;
  }
  return out;
}

}  // namespace

int CompareDpkg(std::string_view a, std::string_view b) {
  // dpkg compares C strings: a NUL ends the version (and VerRevCmp's loop relies on it).
  a = a.substr(0, a.find('\0'));
  b = b.substr(0, b.find('\0'));
  DpkgVersion x = Split(a), y = Split(b);
  if (x.epoch != y.epoch) return x.epoch > y.epoch ? 1 : -1;
  if (int r = VerRevCmp(x.upstream, y.upstream); r != 0) return r;
  return VerRevCmp(x.revision, y.revision);
}

Result<void> ValidateDpkg(std::string_view v) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("version \"{}\" is not a dpkg version: {}", v.substr(0, 80), why));
  };
  if (v.empty()) return bad("empty");
  std::string_view rest = v;
  if (auto colon = rest.find(':'); colon != std::string_view::npos) {
    std::string_view epoch = rest.substr(0, colon);
    if (epoch.empty()) return bad("empty epoch");
    for (char c : epoch)
      if (!IsDigit(c)) return bad("epoch is not a number");
    if (epoch.size() > 9) return bad("epoch too large");
    rest.remove_prefix(colon + 1);
  }
  std::string_view upstream = rest, revision;
  if (auto dash = rest.rfind('-'); dash != std::string_view::npos) {
    upstream = rest.substr(0, dash);
    revision = rest.substr(dash + 1);
    if (revision.empty()) return bad("empty revision");
  }
  if (upstream.empty()) return bad("empty upstream version");
  if (!IsDigit(upstream.front())) return bad("upstream version does not start with a digit");
  for (char c : upstream) {
    if (!(IsDigit(c) || IsAlpha(c) || c == '.' || c == '-' || c == '+' || c == '~' || c == ':'))
      return bad(fmt::format("invalid character '{}' in upstream version", c));
  }
  for (char c : revision) {
    if (!(IsDigit(c) || IsAlpha(c) || c == '.' || c == '+' || c == '~'))
      return bad(fmt::format("invalid character '{}' in revision", c));
  }
  return {};
}

}  // namespace berth::security::scan
