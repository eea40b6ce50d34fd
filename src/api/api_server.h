// The control plane's REST API server: authenticates every request by bearer token (except
// public endpoints), checks the endpoint's access rule (global or per-namespace role, see
// Access in router.h), dispatches through the Router, writes an
// audit record for every mutating call, and serves /metrics. Endpoint groups are added by
// the caller (cmd/) through the Register* functions in endpoints.h.
// Handlers run on a pool of their own (they may wait on the store), or on the HTTP worker
// when the endpoint says it never blocks (`runs_inline`, answered later from a store thread).
// Stop: stop accepting and close connections, join the handler pool, then wait (at most
// 30 s) until every inline call has been answered or dropped.
// Thread-safety: Start/Stop from one thread; requests are served on the HTTP workers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <asio/thread_pool.hpp>

#include "api/router.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/http/server.h"
#include "core/http/tls.h"
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
  // Serve HTTPS with this context (core/http/tls.h); null: plain HTTP.
  std::shared_ptr<const http::TlsServerContext> tls;
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
  // GET /v1/api/endpoints: every endpoint with its access rule (clients and the
  // authorization matrix test read it).
  void AddDiscovery();
  void Handle(http::Request&& request, std::shared_ptr<http::ResponseWriter> writer);
  // The endpoint's access rule and the node-token rule, before any handler runs: the refusal
  // (401/403), or nullopt. (kNamespace with namespace_of and kHandler finish on the pool.)
  std::optional<Error> Admit(const Endpoint& ep, const security::Principal& principal,
                             const http::Request& request,
                             const std::map<std::string, std::string>& params) const;
  // Counts a finished request (every path through Handle ends here once).
  void Count(std::string_view method, int status, Clock::TimePoint start);

  // Inline calls whose on_done has not finished yet (it uses this object). Stop() waits for
  // them: their answer may come from a store thread after the HTTP workers stopped. (Calls
  // run on the pool are not counted: a blocking query may wait minutes for its answer.)
  struct InFlight {
    std::mutex mu;
    std::condition_variable cv;
    int64_t calls = 0;  // guarded by mu
  };
  std::shared_ptr<void> TrackCall();

  ApiDeps deps_;
  Router router_;
  std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<asio::thread_pool> handlers_;
  metrics::CounterFamily* requests_ = nullptr;  // berth_api_requests_total{method,code}
  metrics::Histogram* latency_ = nullptr;       // berth_api_request_duration_seconds
};

}  // namespace berth::api
