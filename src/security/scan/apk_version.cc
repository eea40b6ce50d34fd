// apk's version order (apk-tools src/version.c: next_token, get_token,
// apk_version_compare_blob): digits{.digits}[letter][_suffix[number]]...[-r<number>], suffixes
// _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p; a leading zero in a
// dotted component compares as a fraction ("1.01" < "1.1").
#include <fmt/core.h>

#include <array>
#include <cstdint>

#include "security/scan/version.h"

namespace berth::security::scan {
namespace {

enum Token {
  kInvalid = -1,
  kDigitOrZero = 0,
  kDigit,
  kLetter,
  kSuffix,
  kSuffixNo,
  kRevisionNo,
  kEnd
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }

void NextToken(int* type, std::string_view* blob) {
  int n = kInvalid;
  if (blob->empty() || (*blob)[0] == 0) {
    n = kEnd;
  } else if ((*type == kDigit || *type == kDigitOrZero) && IsLower((*blob)[0])) {
    n = kLetter;
  } else if (*type == kLetter && IsDigit((*blob)[0])) {
    n = kDigit;
  } else if (*type == kSuffix && IsDigit((*blob)[0])) {
    n = kSuffixNo;
  } else {
    switch ((*blob)[0]) {
      case '.':
        n = kDigitOrZero;
        break;
      case '_':
        n = kSuffix;
        break;
      case '-':
        if (blob->size() > 1 && (*blob)[1] == 'r') {
          n = kRevisionNo;
          blob->remove_prefix(1);
        }
        break;
      default:
        break;
    }
    blob->remove_prefix(1);
  }
  if (n < *type) {
    if (!((n == kDigitOrZero && *type == kDigit) || (n == kSuffix && *type == kSuffixNo) ||
          (n == kDigit && *type == kLetter)))
      n = kInvalid;
  }
  *type = n;
}

int64_t GetToken(int* type, std::string_view* blob) {
  static constexpr std::array<std::string_view, 4> kPre = {"alpha", "beta", "pre", "rc"};
  static constexpr std::array<std::string_view, 5> kPost = {"cvs", "svn", "git", "hg", "p"};
  int64_t v = 0;
  size_t i = 0;
  int nt = kInvalid;
  if (blob->empty()) {
    *type = kEnd;
    return 0;
  }
  switch (*type) {
    case kDigitOrZero:
      if ((*blob)[i] == '0') {  // leading zeros: a fraction
        while (i < blob->size() && (*blob)[i] == '0') ++i;
        nt = kDigit;
        v = -static_cast<int64_t>(i);
        break;
      }
      [[fallthrough]];
    case kDigit:
    case kSuffixNo:
    case kRevisionNo:
      while (i < blob->size() && IsDigit((*blob)[i])) {
        if (v < (INT64_MAX - 9) / 10) v = v * 10 + ((*blob)[i] - '0');
        ++i;
      }
      break;
    case kLetter:
      v = static_cast<unsigned char>((*blob)[i++]);
      break;
    case kSuffix: {
      bool found = false;
      for (size_t k = 0; k < kPre.size() && !found; ++k) {
        if (blob->starts_with(kPre[k])) {
          i = kPre[k].size();
          v = static_cast<int64_t>(k) - static_cast<int64_t>(kPre.size());
          found = true;
        }
      }
      for (size_t k = 0; k < kPost.size() && !found; ++k) {
        if (blob->starts_with(kPost[k])) {
          i = kPost[k].size();
          v = static_cast<int64_t>(k);
          found = true;
        }
      }
      if (found) break;
      *type = kInvalid;
      return -1;
    }
    default:
      *type = kInvalid;
      return -1;
  }
  blob->remove_prefix(i);
  if (blob->empty()) {
    *type = kEnd;
  } else if (nt != kInvalid) {
    *type = nt;
  } else {
    NextToken(type, blob);
  }
  return v;
}

}  // namespace

int CompareApk(std::string_view a, std::string_view b) {
  int at = kDigit, bt = kDigit;
  int64_t av = 0, bv = 0;
  while (at == bt && at != kEnd && at != kInvalid && av == bv) {
    av = GetToken(&at, &a);
    bv = GetToken(&bt, &b);
  }
  if (av < bv) return -1;
  if (av > bv) return 1;
  if (at == bt) return 0;
  // Equal so far: the longer one is newer, unless what follows is a pre-release suffix.
  int tt = at;
  std::string_view ra = a, rb = b;
  if (at == kSuffix && GetToken(&tt, &ra) < 0) return -1;
  tt = bt;
  if (bt == kSuffix && GetToken(&tt, &rb) < 0) return 1;
  if (at > bt) return -1;
  if (bt > at) return 1;
  return 0;
}

Result<void> ValidateApk(std::string_view v) {
  if (v.empty() || !IsDigit(v[0])) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("version \"{}\" is not an apk version: it must start with a digit",
                            v.substr(0, 80)));
  }
  int t = kDigit;
  std::string_view rest = v;
  while (t != kEnd) {
    GetToken(&t, &rest);
    if (t == kInvalid) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("version \"{}\" is not an apk version: bad token at \"{}\"",
                              v.substr(0, 80), rest.substr(0, 20)));
    }
  }
  return {};
}

}  // namespace berth::security::scan
