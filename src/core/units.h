// The one grammar for the quantities users write: durations, byte sizes and CPU amounts, in
// specs, API bodies, configuration files and CLI flags alike (decision 0011). Every error
// says what was written and what to write instead; none names a field (the caller knows it:
// the strict reader in core/input.h prefixes file, line and field).
//
//   durations  Go's syntax (Consul, Nomad, Kubernetes): numbers with a unit each, fractions
//              allowed: "250ms", "1.5s", "1h30m", "2d". Units ns, us (µs), ms, s, m, h, d
//              (24h). "0" alone is zero. Any other bare number is an error ("write 30s"),
//              unless the caller names the unit a bare number counts in — only for fields
//              whose name says it (minReadySeconds: 10). Whole milliseconds, 0 to 100 years.
//   bytes      a bare number is bytes; Kubernetes' binary suffixes Ki Mi Gi Ti Pi or Docker's
//              k m g t p (any case, optional b/B): all powers of 1024, so "64m" is 64 MiB as
//              in Docker and Compose ("512M" is 512 MiB too). Fractions round to a byte.
//   CPU        Kubernetes' quantity: cores ("0.5", "2", also a bare JSON/YAML number) or
//              millicores ("500m"); at most 1,000,000 cores, whole millicores.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace berth {

using Millis = std::chrono::milliseconds;

// `text` in double quotes for an error message: quotes and backslashes escaped, control bytes
// as \xNN, cut after 64 bytes ("...").
std::string Quoted(std::string_view text);

// The longest duration ParseDuration accepts (100 years).
inline constexpr Millis kMaxDuration{int64_t{100} * 365 * 24 * 3600 * 1000};

// Parses a duration. `bare_unit`: what a number without a unit counts in (nullopt: it is an
// error that says which unit to add).
Result<Millis> ParseDuration(std::string_view text, std::optional<Millis> bare_unit = {});
// The shortest single-unit form ParseDuration reads back: "90s", "2m", "1500ms", "0s".
std::string FormatDuration(Millis d);

// Parses a byte size to bytes (0 to 2^62).
Result<int64_t> ParseBytes(std::string_view text);
// The shortest exact form: "512Mi", "1536", "1Gi".
std::string FormatBytes(int64_t bytes);

// Parses a CPU amount to millicores.
Result<int64_t> ParseCpu(std::string_view text);
// "500m", or whole cores as "2".
std::string FormatCpu(int64_t millicores);

}  // namespace berth
