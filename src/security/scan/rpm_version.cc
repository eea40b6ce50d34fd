// RPM's version order (rpmio/rpmvercmp.c, and rpmVersionCompare for epoch:version-release):
// alphanumeric segments, separators ignored, numbers newer than letters, '~' before
// everything (pre-releases), '^' after the base version but before anything newer.
#include <string>

#include "security/scan/version.h"

namespace berth::security::scan {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }

int RpmVerCmp(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  size_t i = 0, j = 0;
  auto at = [](std::string_view s, size_t k) { return k < s.size() ? s[k] : '\0'; };
  while (at(a, i) || at(b, j)) {
    while (at(a, i) && !IsAlnum(at(a, i)) && at(a, i) != '~' && at(a, i) != '^') ++i;
    while (at(b, j) && !IsAlnum(at(b, j)) && at(b, j) != '~' && at(b, j) != '^') ++j;
    if (at(a, i) == '~' || at(b, j) == '~') {
      if (at(a, i) != '~') return 1;
      if (at(b, j) != '~') return -1;
      ++i;
      ++j;
      continue;
    }
    if (at(a, i) == '^' || at(b, j) == '^') {
      if (!at(a, i)) return -1;
      if (!at(b, j)) return 1;
      if (at(a, i) != '^') return 1;
      if (at(b, j) != '^') return -1;
      ++i;
      ++j;
      continue;
    }
    if (!(at(a, i) && at(b, j))) break;
    size_t ei = i, ej = j;
    bool num = IsDigit(at(a, i));
    if (num) {
      while (IsDigit(at(a, ei))) ++ei;
      while (IsDigit(at(b, ej))) ++ej;
    } else {
      while (IsAlpha(at(a, ei))) ++ei;
      while (IsAlpha(at(b, ej))) ++ej;
    }
    if (ej == j) return num ? 1 : -1;  // a number against letters (or nothing)
    std::string_view sa = a.substr(i, ei - i), sb = b.substr(j, ej - j);
    if (num) {
      while (!sa.empty() && sa.front() == '0') sa.remove_prefix(1);
      while (!sb.empty() && sb.front() == '0') sb.remove_prefix(1);
      if (sa.size() != sb.size()) return sa.size() > sb.size() ? 1 : -1;
    }
    if (int rc = sa.compare(sb); rc != 0) return rc < 0 ? -1 : 1;
    i = ei;
    j = ej;
  }
  if (!at(a, i) && !at(b, j)) return 0;
  return !at(a, i) ? -1 : 1;
}

// As rpm's rpmverParse: an epoch only when the string starts with digits and a ':'; the
// release after the last '-'.
struct Evr {
  std::string_view epoch = "0";
  std::string_view version;
  std::string_view release;
};

Evr SplitEvr(std::string_view v) {
  Evr out;
  size_t digits = 0;
  while (digits < v.size() && IsDigit(v[digits])) ++digits;
  if (digits < v.size() && v[digits] == ':') {
    if (digits > 0) out.epoch = v.substr(0, digits);
    v.remove_prefix(digits + 1);
  }
  if (auto dash = v.rfind('-'); dash != std::string_view::npos) {
    out.version = v.substr(0, dash);
    out.release = v.substr(dash + 1);
  } else {
    out.version = v;
  }
  return out;
}

}  // namespace

int CompareRpm(std::string_view a, std::string_view b) {
  Evr x = SplitEvr(a), y = SplitEvr(b);
  if (int r = RpmVerCmp(x.epoch, y.epoch); r != 0) return r;
  if (int r = RpmVerCmp(x.version, y.version); r != 0) return r;
  return RpmVerCmp(x.release, y.release);
}

// The segment comparison alone (what librpm exports as rpmvercmp), for the tests.
int RpmSegmentCompare(std::string_view a, std::string_view b) { return RpmVerCmp(a, b); }

}  // namespace berth::security::scan
