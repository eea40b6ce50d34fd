// The log center as berthd wires it: the store over `<data dir>/logs` and the query engine,
// with the limits from berthd's flags. cmd/wiring.cc creates one per control plane and
// registers its HTTP API (api/logs_endpoints.h).
// Thread-safety: what LogStore and Engine say (both safe from any thread).
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "core/error.h"
#include "logs/log_store.h"
#include "logs/logql/engine.h"

namespace berth::logs {

struct LogCenterFlags {
  std::string retention = "7d";  // per namespace by default
  std::string max_bytes = "0";   // per namespace; 0: no size limit ("10Gi", "500Mi")
  size_t max_streams = 10'000;   // per namespace
  int query_threads = 2;
};

class LogCenter {
 public:
  // Opens the store under `data_dir`/logs. Flag errors name the flag.
  static Result<std::unique_ptr<LogCenter>> Open(const std::string& data_dir,
                                                 const LogCenterFlags& flags, Clock& clock);
  LogStore& store() { return *store_; }
  const logql::Engine& engine() const { return *engine_; }
  // Prometheus text: streams, stored and raw bytes, entries, heads.
  std::string RenderMetrics() const;

 private:
  std::unique_ptr<LogStore> store_;
  std::unique_ptr<logql::Engine> engine_;
};

}  // namespace berth::logs
