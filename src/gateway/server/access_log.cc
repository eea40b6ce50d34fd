#include "gateway/server/access_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

namespace berth::gateway::server {

void AppendJsonEscaped(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

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
  auto str = [&](std::string_view key, std::string_view v) {
    buffer_ += ",\"";
    buffer_ += key;
    buffer_ += "\":\"";
    AppendJsonEscaped(buffer_, v);
    buffer_ += '"';
  };
  buffer_ += fmt::format("{{\"time\":\"{}.{:03d}Z\"", cached_time_, r.wall_ms % 1000);
  str("route", r.route);
  str("cluster", r.cluster);
  str("upstream", r.upstream);
  str("method", r.method);
  str("path", r.path);
  buffer_ += fmt::format(
      ",\"status\":{},\"bytes_in\":{},\"bytes_out\":{},\"duration_ms\":{:.3f},\"attempts\":{}",
      r.status, r.bytes_in, r.bytes_out, r.duration_ms, r.attempts);
  str("request_id", r.request_id);
  str("client", r.client);
  if (!r.flags.empty()) str("flags", r.flags);
  buffer_ += "}\n";
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
