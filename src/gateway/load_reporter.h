// LoadReporter: publishes one gateway's request rate per registry service to the store,
// where the orchestrator's autoscalers read it (targetRps). Every `interval` it samples
// Gateway::ServiceRequestTotals() (the workers' counters; nothing on the request path),
// turns the difference since the last sample into requests per second, and writes
//   /load/gateway/<id>  {"time_ms", "window_ms", "services": {"<ns>/<svc>": {"rps", "requests"}}}
// under its own lease (ttl), only when a rate changed (rounded to 0.1 req/s) or the lease is
// new: an idle gateway writes nothing. The lease is kept alive each interval, so the key of
// a gateway that stops or dies goes with it; several gateways (berthd server's own,
// `berthd gateway` processes on an etcd store) each report under their own id and the
// controller sums them.
// Thread-safety: Start/Stop from one thread; Report is for tests (not while started);
// RenderMetrics from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "gateway/load_report.h"  // kGatewayLoadPrefix, the report's form
#include "store/store.h"

namespace berth::gateway {

struct LoadReporterOptions {
  std::string id;  // unique among the gateways sharing the store ("host-8080")
  std::chrono::milliseconds interval{5000};
  int64_t ttl_seconds = 15;
};

class LoadReporter {
 public:
  // Request totals since start by "<ns>/<svc>" (Gateway::ServiceRequestTotals).
  using Totals = std::function<std::map<std::string, uint64_t>()>;

  LoadReporter(store::Store& store, Clock& clock, Totals totals, LoadReporterOptions options);
  ~LoadReporter();
  LoadReporter(const LoadReporter&) = delete;
  LoadReporter& operator=(const LoadReporter&) = delete;

  // Takes the first sample and starts the reporting thread.
  void Start();
  // Stops the thread and revokes the lease (the key goes). Idempotent.
  void Stop();

  // One step: sample, keep the lease alive, write when something changed. True when written.
  Result<bool> Report();

  // berth_gateway_service_requests_per_second{namespace,service}: the last rates.
  std::string RenderMetrics() const;
  std::string key() const { return std::string(kGatewayLoadPrefix) + options_.id; }

 private:
  store::Store& store_;
  Clock& clock_;
  Totals totals_;
  const LoadReporterOptions options_;

  // Reporting state: the reporting thread's (or the test's).
  int64_t lease_ = 0;
  std::optional<Clock::TimePoint> last_sample_at_;
  std::map<std::string, uint64_t> last_totals_;
  std::string written_;  // the rates last written

  mutable std::mutex mu_;
  std::map<std::string, double> rates_;  // guarded by mu_
  bool stop_ = false;                    // guarded by mu_
  std::condition_variable cv_;
  std::thread thread_;
};

// "<host>-<port>" from the host name and a listen address ("127.0.0.1:8080"), for `id`.
std::string DefaultGatewayId(std::string_view listen_address);

}  // namespace berth::gateway
