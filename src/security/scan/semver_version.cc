// Semantic Versioning 2.0.0 precedence (semver.org §11), as npm, Cargo and Go modules use it:
// MAJOR.MINOR.PATCH numerically, then a pre-release ("-rc.1") before the release, its
// dot-separated identifiers numeric (by value) before alphanumeric (ASCII), build metadata
// ("+...") ignored. Go's leading "v" is accepted. A string that is not semver compares after
// its longest valid prefix by bytes, so the order stays total.
#include <fmt/core.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "security/scan/version.h"

namespace berth::security::scan {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}
bool AllDigits(std::string_view s) {
  for (char c : s)
    if (!IsDigit(c)) return false;
  return !s.empty();
}

struct Semver {
  uint64_t core[3] = {0, 0, 0};
  std::vector<std::string_view> pre;
};

// Why `v` is not semver, or its parts.
std::optional<std::string> Parse(std::string_view v, Semver* out) {
  if (v.starts_with('v')) v.remove_prefix(1);
  if (auto plus = v.find('+'); plus != std::string_view::npos) {
    std::string_view build = v.substr(plus + 1);
    if (build.empty()) return "empty build metadata";
    size_t start = 0;
    while (start <= build.size()) {
      size_t dot = build.find('.', start);
      std::string_view id = build.substr(start, dot == std::string_view::npos ? dot : dot - start);
      if (id.empty()) return "empty build identifier";
      for (char c : id)
        if (!IsIdentChar(c)) return fmt::format("invalid character '{}' in build metadata", c);
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    v = v.substr(0, plus);
  }
  std::string_view pre;
  if (auto dash = v.find('-'); dash != std::string_view::npos) {
    pre = v.substr(dash + 1);
    v = v.substr(0, dash);
    if (pre.empty()) return "empty pre-release";
  }
  for (int k = 0; k < 3; ++k) {
    size_t dot = v.find('.');
    std::string_view part = k < 2 ? v.substr(0, dot) : v;
    if (k < 2 && dot == std::string_view::npos) return "needs MAJOR.MINOR.PATCH";
    if (!AllDigits(part)) return fmt::format("\"{}\" is not a number", part);
    if (part.size() > 1 && part[0] == '0') return fmt::format("\"{}\" has a leading zero", part);
    if (part.size() > 19) return fmt::format("\"{}\" is too large", part);
    uint64_t n = 0;
    for (char c : part) n = n * 10 + static_cast<uint64_t>(c - '0');
    out->core[k] = n;
    if (k < 2) v.remove_prefix(dot + 1);
  }
  size_t start = 0;
  while (!pre.empty() && start <= pre.size()) {
    size_t dot = pre.find('.', start);
    std::string_view id = pre.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (id.empty()) return "empty pre-release identifier";
    for (char c : id)
      if (!IsIdentChar(c)) return fmt::format("invalid character '{}' in pre-release", c);
    if (AllDigits(id) && id.size() > 1 && id[0] == '0')
      return fmt::format("pre-release identifier \"{}\" has a leading zero", id);
    out->pre.push_back(id);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return std::nullopt;
}

int CompareIdent(std::string_view a, std::string_view b) {
  bool an = AllDigits(a), bn = AllDigits(b);
  if (an && bn) {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    int c = a.compare(b);
    return c < 0 ? -1 : c > 0;
  }
  if (an != bn) return an ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : c > 0;
}

}  // namespace

int CompareSemver(std::string_view a, std::string_view b) {
  Semver x, y;
  bool xa = !Parse(a, &x), ya = !Parse(b, &y);
  if (!xa || !ya) {
    // Not both semver: valid before invalid, invalid ones by bytes.
    if (xa != ya) return xa ? -1 : 1;
    int c = a.compare(b);
    return c < 0 ? -1 : c > 0;
  }
  for (int k = 0; k < 3; ++k) {
    if (x.core[k] != y.core[k]) return x.core[k] < y.core[k] ? -1 : 1;
  }
  if (x.pre.empty() || y.pre.empty()) {
    if (x.pre.empty() == y.pre.empty()) return 0;
    return x.pre.empty() ? 1 : -1;  // a release is newer than its pre-releases
  }
  for (size_t k = 0; k < x.pre.size() && k < y.pre.size(); ++k) {
    if (int c = CompareIdent(x.pre[k], y.pre[k]); c != 0) return c;
  }
  if (x.pre.size() == y.pre.size()) return 0;
  return x.pre.size() < y.pre.size() ? -1 : 1;
}

Result<void> ValidateSemver(std::string_view v) {
  Semver s;
  if (auto why = Parse(v, &s)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("version \"{}\" is not semver: {}", v.substr(0, 80), *why));
  }
  return {};
}

}  // namespace berth::security::scan
