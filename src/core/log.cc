#include "core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

#include "core/json_writer.h"

namespace berth::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::atomic<bool> g_json{false};

spdlog::logger& Logger() {
  static auto* logger = [] {
    auto l = spdlog::stderr_logger_mt("berth");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc);
    l->set_level(spdlog::level::trace);
    return l.get();
  }();
  return *logger;
}

std::string_view Name(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

// `s` as a JSON string (quotes included); ill-formed UTF-8 replaced (a log line is never lost).
std::string JsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendJsonString(out, s, JsonWriter::Utf8::kReplace);
  return out;
}

}  // namespace

void Configure(Level min_level, bool json) {
  g_min_level = static_cast<int>(min_level);
  g_json = json;
  Logger().set_pattern(json ? "%v" : "%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc);
}

bool ParseLevel(std::string_view text, Level* out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == Name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_min_level.load(); }

void Write(Level level, std::string_view component, std::string_view message) {
  if (g_json) {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    Logger().info(R"({{"ts_ms":{},"level":"{}","component":{},"msg":{}}})", ms, Name(level),
                  JsonString(component), JsonString(message));
  } else {
    Logger().info("{:<5} {} {}", Name(level), component, message);
  }
}

}  // namespace berth::log
