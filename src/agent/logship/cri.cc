#include "agent/logship/cri.h"

#include <time.h>

namespace berth::agent::logship {
namespace {

bool Digits(std::string_view s, size_t at, size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<int64_t> ParseRfc3339Nanos(std::string_view t) {
  int year, mon, day, hh, mm, ss;
  if (t.size() < 20 || !Digits(t, 0, 4, year) || t[4] != '-' || !Digits(t, 5, 2, mon) ||
      t[7] != '-' || !Digits(t, 8, 2, day) || t[10] != 'T' || !Digits(t, 11, 2, hh) ||
      t[13] != ':' || !Digits(t, 14, 2, mm) || t[16] != ':' || !Digits(t, 17, 2, ss)) {
    return std::nullopt;
  }
  size_t i = 19;
  int64_t frac = 0;
  if (i < t.size() && t[i] == '.') {
    int64_t scale = 100'000'000;
    for (++i; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
      frac += (t[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (i + 1 != t.size() || t[i] != 'Z') return std::nullopt;
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000'000 + frac;
}

std::optional<CriLine> ParseCriLine(std::string_view line) {
  size_t a = line.find(' ');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = line.find(' ', a + 1);
  if (b == std::string_view::npos || b + 2 > line.size()) return std::nullopt;
  auto ts = ParseRfc3339Nanos(line.substr(0, a));
  char tag = line[b + 1];
  if (!ts || (tag != 'F' && tag != 'P') || (b + 2 < line.size() && line[b + 2] != ' '))
    return std::nullopt;
  CriLine out;
  out.ts_ns = *ts;
  out.stream = line.substr(a + 1, b - a - 1);
  out.partial = tag == 'P';
  out.text = b + 3 <= line.size() ? line.substr(b + 3) : std::string_view();
  return out;
}

}  // namespace berth::agent::logship
