#include "gateway/server/access_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include "core/json_writer.h"

namespace berth::gateway::server {

AccessLog::AccessLog(const std::string& path) {
  if (!path.empty()) fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

AccessLog::~AccessLog() {
  Flush();
  if (fd_ >= 0) ::close(fd_);
}

void AccessLog::Write(const AccessRecord& r) {
  if (fd_ < 0) return;
  const int64_t sec = r.wall_ms / 1000;
  if (sec != cached_second_) {
    cached_second_ = sec;
    time_t t = sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    cached_time_ = buf;
  }
  char time[40];
  const auto end =
      fmt::format_to_n(time, sizeof(time), "{}.{:03d}Z", cached_time_, r.wall_ms % 1000).out;
  // Client-controlled strings (path, request id) may be any bytes: ill-formed UTF-8 is
  // replaced, so every line stays valid JSON.
  JsonWriter w(buffer_, JsonWriter::Utf8::kReplace);
  w.BeginObject()
      .Key("time")
      .String(std::string_view(time, end - time))
      .Key("route")
      .String(r.route)
      .Key("cluster")
      .String(r.cluster)
      .Key("upstream")
      .String(r.upstream)
      .Key("method")
      .String(r.method)
      .Key("path")
      .String(r.path)
      .Key("status")
      .Int(r.status)
      .Key("bytes_in")
      .Uint(r.bytes_in)
      .Key("bytes_out")
      .Uint(r.bytes_out)
      .Key("duration_ms")
      .Fixed(r.duration_ms, 3)
      .Key("attempts")
      .Int(r.attempts)
      .Key("request_id")
      .String(r.request_id)
      .Key("client")
      .String(r.client);
  if (!r.flags.empty()) w.Key("flags").String(r.flags);
  w.EndObject();
  buffer_ += '\n';
  if (buffer_.size() >= 32 * 1024) Flush();
}

void AccessLog::Flush() {
  if (fd_ < 0 || buffer_.empty()) return;
  size_t off = 0;
  while (off < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + off, buffer_.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  buffer_.clear();
}

}  // namespace berth::gateway::server
