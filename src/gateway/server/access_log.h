// JSON access log lines (one object per request: time, route, upstream, status, bytes,
// duration, request id...) appended to a file. Each worker owns one AccessLog on its own
// file descriptor (O_APPEND): lines are buffered and written whole, so workers never
// interleave inside a line. Flushed when 32 KiB are pending and every 100 ms by the worker.
// Thread-safety: one worker thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::gateway::server {

struct AccessRecord {
  int64_t wall_ms = 0;
  std::string_view route;
  std::string_view cluster;
  std::string_view upstream;
  std::string_view method;
  std::string_view path;
  std::string_view request_id;
  std::string_view client;
  int status = 0;
  uint64_t bytes_in = 0;   // request body bytes
  uint64_t bytes_out = 0;  // response body bytes
  double duration_ms = 0;
  int attempts = 0;
  std::string_view flags;  // "UF" connect failure, "UT" timeout, "RL" rate limited, ...
};

class AccessLog {
 public:
  // Opens `path` for appending; an empty path or an open failure leaves the log disabled.
  explicit AccessLog(const std::string& path);
  ~AccessLog();
  bool enabled() const { return fd_ >= 0; }
  void Write(const AccessRecord& r);
  void Flush();

 private:
  int fd_ = -1;
  std::string buffer_;
  int64_t cached_second_ = -1;
  std::string cached_time_;  // "2026-11-27T05:00:00"
};

}  // namespace berth::gateway::server
