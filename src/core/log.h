// Structured logging. One line per event, `ts level component message key=value...`, or
// JSON lines when configured. Backed by spdlog in log.cc; this header stays light
// (fmt/core only) because almost every file includes it.
// Thread-safety: all functions are safe from any thread.
#pragma once

#include <fmt/core.h>

#include <string>
#include <string_view>

namespace berth::log {

enum class Level { kDebug, kInfo, kWarn, kError };

// Sets the lowest level written (default info) and whether lines are JSON.
void Configure(Level min_level, bool json);
// Parses "debug|info|warn|error"; returns false for anything else.
bool ParseLevel(std::string_view text, Level* out);
bool Enabled(Level level);
void Write(Level level, std::string_view component, std::string_view message);

template <typename... Args>
void Debug(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Info(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Error(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kError)) Write(Level::kError, component, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace berth::log
