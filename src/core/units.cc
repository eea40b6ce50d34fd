#include "core/units.h"

#include <fmt/core.h>

namespace berth {
namespace {

using Int128 = __int128;

// A decimal number as written: digits, optionally '.' and more digits (".5" and "5." too).
struct Decimal {
  Int128 whole = 0;
  Int128 fraction = 0;  // the digits after the point, as an integer
  Int128 scale = 1;     // 10^(number of those digits)
};

// Reads a decimal at s[i...]; advances i. False when there is no digit, or more than 18
// digits on either side (a bound far beyond any quantity the grammars accept).
bool ReadDecimal(std::string_view s, size_t& i, Decimal& out) {
  size_t whole_digits = 0, fraction_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (++whole_digits > 18) return false;
    out.whole = out.whole * 10 + (s[i++] - '0');
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (++fraction_digits > 18) return false;
      out.fraction = out.fraction * 10 + (s[i++] - '0');
      out.scale *= 10;
    }
  }
  return whole_digits + fraction_digits > 0;
}

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

constexpr int64_t kNanosPerMilli = 1'000'000;

// Nanoseconds per unit; 0 for an unknown unit.
int64_t DurationUnit(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") return 1'000;  // µs, μs
  if (unit == "ms") return kNanosPerMilli;
  if (unit == "s") return 1'000'000'000;
  if (unit == "m") return 60'000'000'000;
  if (unit == "h") return 3'600'000'000'000;
  if (unit == "d") return 86'400'000'000'000;
  return 0;
}

bool IsNumberByte(char c) { return (c >= '0' && c <= '9') || c == '.'; }

}  // namespace

std::string Quoted(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (char c : text.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (text.size() > kMax) out += "...";
  out += '"';
  return out;
}

Result<Millis> ParseDuration(std::string_view text, std::optional<Millis> bare_unit) {
  const auto q = [&] { return Quoted(text); };  // for errors only: the registry's hot path
  if (text.empty()) return Invalid("empty duration: write a number with a unit, like 30s");
  if (text.front() == '-') return Invalid(q() + " is negative: a duration is 0 or more");
  const auto malformed = [&] {
    return Invalid(q() +
                   " is not a duration: write numbers with units (ns, us, ms, s, m, h, d), "
                   "like 250ms, 1.5s or 1h30m");
  };
  Int128 total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    const bool first = i == 0;
    Decimal d;
    if (!ReadDecimal(text, i, d)) return malformed();
    const size_t unit_start = i;
    while (i < text.size() && !IsNumberByte(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    Int128 per_unit = 0;
    if (unit.empty()) {
      // A number without a unit: the whole text, or malformed ("1h30", "1.2.3").
      if (!first || i != text.size()) return malformed();
      if (bare_unit) {
        per_unit = std::chrono::duration_cast<std::chrono::nanoseconds>(*bare_unit).count();
      } else if (d.whole == 0 && d.fraction == 0) {
        return Millis(0);  // "0" needs no unit, as in Go
      } else {
        return Invalid(fmt::format("{} has no unit: write {}s (or {}ms, {}m, {}h)", q(), text, text,
                                   text, text));
      }
    } else {
      per_unit = DurationUnit(unit);
      if (per_unit == 0) {
        return Invalid(fmt::format("{} has an unknown unit {}: use ns, us, ms, s, m, h or d", q(),
                                   Quoted(unit)));
      }
    }
    const Int128 fraction_ns = d.fraction * per_unit;
    if (fraction_ns % d.scale != 0) return Invalid(q() + " is finer than a millisecond");
    total_ns += d.whole * per_unit + fraction_ns / d.scale;
    if (total_ns > Int128{kMaxDuration.count()} * kNanosPerMilli) {
      return Invalid(q() + " is longer than 100 years");
    }
  }
  if (total_ns % kNanosPerMilli != 0) return Invalid(q() + " is finer than a millisecond");
  return Millis(static_cast<int64_t>(total_ns / kNanosPerMilli));
}

std::string FormatDuration(Millis d) {
  const int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

Result<int64_t> ParseBytes(std::string_view text) {
  constexpr int64_t kMaxBytes = int64_t{1} << 62;
  const auto q = [&] { return Quoted(text); };
  if (!text.empty() && text.front() == '-')
    return Invalid(q() + " is negative: a size is 0 or more");
  size_t i = 0;
  Decimal d;
  if (!ReadDecimal(text, i, d)) {
    return Invalid(q() +
                   " is not a size: write bytes (1048576) or a number with a unit, like "
                   "512Mi, 1Gi or 64m");
  }
  std::string unit;
  for (char c : text.substr(i)) unit += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  if (unit.size() >= 2 && unit.back() == 'b') unit.pop_back();  // "MiB", "mb"
  if (unit.size() == 2 && unit.back() == 'i') unit.pop_back();  // "Mi"
  int shift = -1;
  if (unit.empty() || unit == "b") {
    shift = 0;
  } else if (unit.size() == 1) {
    const auto pos = std::string_view("kmgtp").find(unit[0]);
    if (pos != std::string_view::npos) shift = 10 * static_cast<int>(pos + 1);
  }
  if (shift < 0) {
    return Invalid(
        fmt::format("{} has an unknown unit {}: use Ki, Mi, Gi, Ti, Pi (or k, m, g, "
                    "t, p), all powers of 1024",
                    q(), Quoted(text.substr(i))));
  }
  const Int128 mult = Int128{1} << shift;
  // Round half up to a whole byte.
  const Int128 bytes = d.whole * mult + (d.fraction * mult * 2 + d.scale) / (d.scale * 2);
  if (bytes > kMaxBytes) return Invalid(q() + " is larger than 4Ei");
  return static_cast<int64_t>(bytes);
}

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"Pi", "Ti", "Gi", "Mi", "Ki"};
  for (int k = 0; k < 5; ++k) {
    const int64_t mult = int64_t{1} << (10 * (5 - k));
    if (bytes != 0 && bytes % mult == 0) return fmt::format("{}{}", bytes / mult, kUnits[k]);
  }
  return fmt::format("{}", bytes);
}

Result<int64_t> ParseCpu(std::string_view text) {
  constexpr int64_t kMaxMillicores = 1'000'000'000;
  const auto q = [&] { return Quoted(text); };
  if (!text.empty() && text.front() == '-') {
    return Invalid(q() + " is negative: a CPU amount is 0 or more");
  }
  size_t i = 0;
  Decimal d;
  const bool number = ReadDecimal(text, i, d);
  const std::string_view unit = text.substr(i);
  if (!number || (unit != "" && unit != "m")) {
    return Invalid(q() + " is not a CPU amount: write cores (0.5, 2) or millicores (500m)");
  }
  const Int128 per_unit = unit == "m" ? 1 : 1000;
  if ((d.fraction * per_unit) % d.scale != 0) {
    return Invalid(q() + " is finer than a millicore (1m, a thousandth of a core)");
  }
  const Int128 millis = d.whole * per_unit + d.fraction * per_unit / d.scale;
  if (millis > kMaxMillicores) return Invalid(q() + " is more than 1000000 cores");
  return static_cast<int64_t>(millis);
}

std::string FormatCpu(int64_t millicores) {
  if (millicores != 0 && millicores % 1000 == 0) return fmt::format("{}", millicores / 1000);
  return fmt::format("{}m", millicores);
}

}  // namespace berth
