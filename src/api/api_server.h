// The control plane's REST API server: authenticates every request by bearer token (except
// public endpoints), checks the endpoint's role, dispatches through the Router, writes an
// audit record for every mutating call, and serves /metrics. Endpoint groups are added by
// the caller (cmd/) through the Register* functions in endpoints.h.
// Thread-safety: Start/Stop from one thread; requests are served on the HTTP workers.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <asio/thread_pool.hpp>

#include "api/router.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/http/server.h"
#include "core/metrics/metrics.h"
#include "security/audit.h"
#include "security/tokens.h"

namespace berth::api {

struct ApiOptions {
  std::string address = "127.0.0.1:7700";
  int threads = 2;
  // Threads that run endpoint handlers, so HTTP workers never wait on a store commit and
  // concurrent writes share the store's group commits.
  int handler_threads = 32;
  size_t max_body_bytes = 4 * 1024 * 1024;
};

struct ApiDeps {
  security::TokenService* tokens = nullptr;
  security::AuditLog* audit = nullptr;
  Clock* clock = nullptr;
  // The process's metrics registry: the API adds its request counters to it and serves its
  // rendering at /metrics.
  metrics::Registry* metrics = nullptr;
  // Text appended to /metrics from components that keep their own counters.
  std::function<std::string()> extra_metrics;
};

class ApiServer {
 public:
  // Binds the address (so the port is known) and starts serving `router`.
  static Result<std::unique_ptr<ApiServer>> Start(ApiOptions options, ApiDeps deps, Router router);
  ~ApiServer();
  void Stop();
  std::string address() const { return server_->address(); }
  uint16_t port() const { return server_->port(); }

  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

 private:
  ApiServer(ApiDeps deps, Router router) : deps_(std::move(deps)), router_(std::move(router)) {}
  void Handle(http::Request&& request, std::shared_ptr<http::ResponseWriter> writer);
  // Counts a finished request (every path through Handle ends here once).
  void Count(std::string_view method, int status, Clock::TimePoint start);

  ApiDeps deps_;
  Router router_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<asio::thread_pool> handlers_;
  metrics::CounterFamily* requests_ = nullptr;  // berth_api_requests_total{method,code}
  metrics::Histogram* latency_ = nullptr;       // berth_api_request_duration_seconds
};

}  // namespace berth::api
