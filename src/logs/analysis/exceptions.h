// Exception grouping (Sentry's idea): a log record that holds a stack trace — Java, Python,
// Go or C++ (the node agent ships each as one record, agent/logship/multiline.h) — is read
// into its exception type, message and frames; frames are normalised (line numbers, ids,
// addresses and lambda numbers masked, arguments dropped) and the type plus the top five
// frames make the fingerprint. Traces with one fingerprint are one group: count, first and
// last seen, the instances it came from, the newest message and one example.
// Thread-safety: ExceptionGroups is not thread-safe (one per analysis); ParseStackTrace is a
// pure function.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace berth::logs::analysis {

struct StackTrace {
  std::string language;             // "java", "python", "go", "c++"
  std::string type;                 // java.lang.IllegalStateException, ValueError, panic
  std::string message;              // as it came
  std::vector<std::string> frames;  // normalised, innermost (where it was thrown) first
};

// The trace in a log record, or nullopt when the record holds none.
std::optional<StackTrace> ParseStackTrace(std::string_view record);

// Digits, hex numbers and ids in `text` masked: "user 42 at 0x7ffd" -> "user <n> at <hex>".
std::string MaskVariables(std::string_view text);

// 16 hex digits: the type and the top frames (kFingerprintFrames) hashed.
inline constexpr size_t kFingerprintFrames = 5;
std::string Fingerprint(const StackTrace& trace);

struct ExceptionGroup {
  std::string fingerprint;
  std::string language, type;
  std::string message;              // the newest occurrence's
  std::vector<std::string> frames;  // the top frames, normalised
  uint64_t count = 0;
  int64_t first_seen_ns = 0, last_seen_ns = 0;
  std::set<std::string> instances;  // the streams' instance label (else app), at most 20
  std::string example;              // the first record, at most 4 KiB
};

class ExceptionGroups {
 public:
  // Adds one log record seen at `ts_ns` in a stream whose instance is `instance`; false
  // when it holds no stack trace.
  bool Add(std::string_view record, int64_t ts_ns, std::string_view instance);
  // Groups by count, most frequent first (ties: newest first).
  std::vector<ExceptionGroup> Groups() const;
  uint64_t traces() const { return traces_; }

 private:
  std::map<std::string, ExceptionGroup> groups_;  // by fingerprint
  uint64_t traces_ = 0;
};

}  // namespace berth::logs::analysis
