// The CRI log format the shim writes (`<RFC 3339 nano> <stdout|stderr> <F|P> <text>`): one
// parsed line. `P` marks a partial line (a line longer than the shim's buffer) that the next
// line of the same stream continues.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace berth::agent::logship {

struct CriLine {
  int64_t ts_ns = 0;
  std::string_view stream;  // "stdout" | "stderr"
  bool partial = false;
  std::string_view text;
};

// nullopt when the line is not in CRI format.
std::optional<CriLine> ParseCriLine(std::string_view line);
// "2026-12-07T19:00:00.123456789Z" -> nanoseconds since the epoch; nullopt when malformed.
std::optional<int64_t> ParseRfc3339Nanos(std::string_view text);

}  // namespace berth::agent::logship
