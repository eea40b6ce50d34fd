#include "logs/log_center.h"

#include <fmt/format.h>

#include "core/units.h"

namespace berth::logs {

Result<std::unique_ptr<LogCenter>> LogCenter::Open(const std::string& data_dir,
                                                   const LogCenterFlags& flags, Clock& clock) {
  LogStoreOptions o;
  o.dir = JoinPath(data_dir, "logs");
  auto retention = ParseDuration(flags.retention);
  if (!retention) return std::unexpected(Wrap(retention.error(), "--logs-retention"));
  if (retention->count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "--logs-retention: must be above 0");
  }
  o.default_limits.retention_ms = retention->count();
  auto bytes = ParseBytes(flags.max_bytes);
  if (!bytes) return std::unexpected(Wrap(bytes.error(), "--logs-max-bytes"));
  o.default_limits.max_bytes = static_cast<uint64_t>(*bytes);
  if (flags.max_streams < 1)
    return Fail(ErrorCode::kInvalidArgument, "--logs-max-streams must be at least 1");
  o.default_limits.max_streams = flags.max_streams;
  auto center = std::make_unique<LogCenter>();
  auto store = LogStore::Open(std::move(o), PosixEnv(), clock);
  if (!store) return std::unexpected(store.error());
  center->store_ = std::move(*store);
  center->engine_ = std::make_unique<logql::Engine>(*center->store_, flags.query_threads);
  return center;
}

std::string LogCenter::RenderMetrics() const {
  LogStoreStats s = store_->Stats();
  std::string out;
  auto gauge = [&](std::string_view name, std::string_view help, uint64_t v) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, v);
  };
  gauge("berth_logs_streams", "Log streams stored.", s.streams);
  gauge("berth_logs_chunks", "Compressed chunks in segment files.", s.chunks);
  gauge("berth_logs_stored_bytes", "Bytes of segment files.", s.stored_bytes);
  gauge("berth_logs_raw_bytes", "Line bytes in the stored chunks.", s.raw_bytes);
  gauge("berth_logs_entries", "Log entries stored (chunks and memory).", s.entries);
  gauge("berth_logs_head_bytes", "Line bytes held in memory, not yet in chunks.", s.head_bytes);
  return out;
}

}  // namespace berth::logs
