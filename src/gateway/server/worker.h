// A data-plane worker (Envoy's worker thread): one thread running one asio io_context that
// owns, for their whole life, its listener (SO_REUSEPORT: the kernel spreads new connections
// over the workers), its client connections (ConnectionManagers), its upstream clusters and
// connection pools (ClusterManager), its stats, its access log writer and its buffers.
// The main thread never touches that state; it hands new route snapshots to the worker,
// which swaps them in between two events, so requests take no lock.
// The io_context runs without any locking (ASIO_CONCURRENCY_HINT_UNSAFE): nothing may post
// to it from another thread once the worker runs. Other threads hand work over through
// RunOnWorker (a mutex-guarded queue and an eventfd the worker's reactor waits on).
// Thread-safety: the public methods are safe from any thread (they hand over to the
// worker), except Listen, ListenAdmin and SetTls (before Start); everything else runs on
// the worker thread.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/http/parser.h"
#include "core/random.h"
#include "gateway/router/route_table.h"
#include "gateway/server/cluster_manager.h"
#include "gateway/server/http2_session.h"
#include "gateway/server/io_buffer.h"
#include "gateway/server/stats.h"

namespace berth::gateway::server {

class AccessLog;

// What the worker's connection table holds (a ConnectionManager; a test's double): a client
// connection it can time out, drain and stop.
class WorkerConnection {
 public:
  virtual ~WorkerConnection() = default;
  // Its deadline (Worker::SetDeadline) passed.
  virtual void OnTimer() = 0;
  // Drain: closes the connection now if it is idle between requests.
  virtual void CloseIfIdle() = 0;
  // Stop: closes the connection whatever it is doing.
  virtual void Close() = 0;
  // Its slot in the table moved.
  virtual void set_slot(uint32_t slot) = 0;
};

struct WorkerOptions {
  http::ParserLimits limits;
  bool http2_enabled = true;  // HTTP/2: prior knowledge in clear text, ALPN "h2" on TLS
  Http2Limits http2;
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive wait for the next request
  std::chrono::milliseconds header_timeout{10'000};  // a request head must arrive within
  std::string access_log_path;                       // overrides the snapshot's
};

class Worker {
 public:
  static constexpr size_t kBufferSize = kIoBufferSize;
  // Period of the worker's tick: access-log flush and the sweep of session deadlines (one
  // timer per worker, not one per connection): a timeout fires at most one tick late.
  static constexpr std::chrono::milliseconds kTick{100};

  Worker(int index, WorkerOptions options, const Clock& clock);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds a listener (SO_REUSEPORT) on `endpoint`; returns the bound port. May be called
  // more than once (several addresses). `freebind` binds an address the host does not have
  // yet (IP_FREEBIND), e.g. a container bridge created with the first container.
  Result<uint16_t> Listen(const asio::ip::tcp::endpoint& endpoint, bool freebind = false);
  // Adds an admin listener (GET /metrics, /ready) answered by `render`.
  Result<uint16_t> ListenAdmin(const asio::ip::tcp::endpoint& endpoint,
                               std::function<std::string()> render_metrics);
  // Terminates TLS on the listener with `context` (before Start).
  void SetTls(std::shared_ptr<asio::ssl::context> context) { tls_context_ = std::move(context); }
  // Starts the thread.
  void Start();
  // Posts a new route table (and its clusters) to the worker.
  void SetRoutes(std::shared_ptr<const router::RouteTable> table);
  // Stops accepting, closes idle connections, lets in-flight requests finish (their
  // connections close after the response).
  void Drain();
  // Closes everything and joins the thread. Idempotent.
  void Stop();
  // Active client connections (for drain).
  int64_t active_connections() const { return stats_.downstream_active.value(); }
  WorkerStats& stats() { return stats_; }
  // The admin listener's /metrics body.
  std::string RenderMetrics();

  // --- worker-thread API for its connections ---
  asio::io_context& io() { return io_; }
  const WorkerOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  lb::Random& random() { return random_; }
  ClusterManager& clusters() { return clusters_; }
  const std::shared_ptr<const router::RouteTable>& routes() const { return routes_; }
  RouteStats* RouteStatsFor(const router::Route* route);
  // The stats of gRPC `method` ("/pkg.Service/Method") on `route` (cached on this worker).
  GrpcMethodStats* GrpcStatsFor(const router::Route& route, std::string_view method);
  AccessLog* access_log() { return access_log_.get(); }
  // Upgraded connections (WebSocket) open on this worker through route `route` (by name, so
  // the count survives route-table changes): websocket.max_connections checks it.
  uint32_t& open_upgrades(const std::string& route) { return open_upgrades_[route]; }
  bool draining() const { return draining_; }
  asio::ssl::context* tls_context() const { return tls_context_.get(); }
  int index() const { return index_; }

  // Pools, so that an idle keep-alive connection holds no read buffer, parser or head string:
  // sessions take them when bytes arrive and give them back when the connection goes idle.
  std::unique_ptr<char[]> TakeBuffer();
  void GiveBuffer(std::unique_ptr<char[]> buffer);
  // A parser ready for a new message (request parsers with the worker's limits).
  std::unique_ptr<http::Parser> TakeParser(http::MessageKind kind);
  void GiveParser(http::MessageKind kind, std::unique_ptr<http::Parser> parser);
  // An empty string with some capacity, for building heads.
  std::string TakeString();
  void GiveString(std::string s);

  // Connections and their deadlines: Register returns the connection's slot; the tick calls
  // OnTimer once a slot's deadline has passed (and clears it).
  uint32_t Register(WorkerConnection* c);
  void Unregister(uint32_t slot);
  void SetDeadline(uint32_t slot, Clock::TimePoint deadline) { slots_[slot].deadline = deadline; }
  // The tick's sweep of deadlines (a test driving the worker calls it after moving its clock).
  void SweepDeadlines();
  // Runs, on the calling thread, what other threads handed over (SetRoutes, Drain, Stop):
  // for a worker that a test drives itself, without Start.
  void RunHandedOver();

 private:
  struct Slot {
    WorkerConnection* connection;
    Clock::TimePoint deadline;
  };
  void Accept(asio::ip::tcp::acceptor& acceptor, bool admin);
  // From any thread: runs `fn` on the worker thread (in order; never once Stop has run).
  void RunOnWorker(std::function<void()> fn);
  // Worker thread: waits for the next hand-over, then runs what was handed over.
  void WaitForHandOver();
  void TickLater();

  const int index_;
  const WorkerOptions options_;
  const Clock& clock_;
  // One thread runs it and uses every object on it; other threads never post to it (they go
  // through RunOnWorker): no locking in the scheduler or the reactor.
  asio::io_context io_{ASIO_CONCURRENCY_HINT_UNSAFE};
  std::mutex hand_over_mu_;
  std::vector<std::function<void()>> hand_over_;  // guarded by hand_over_mu_
  std::vector<std::function<void()>> handed_;     // worker thread: being run
  int wake_fd_ = -1;                              // an eventfd, written after a push
  asio::posix::stream_descriptor hand_over_fd_;   // wake_fd_ duplicated: the worker's wait
  std::string hand_over_error_;                   // creating it failed (Listen reports it)
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  FastRandom random_;
  WorkerStats stats_;
  ClusterManager clusters_;
  std::shared_ptr<const router::RouteTable> routes_;
  std::unordered_map<const router::Route*, RouteStats*> route_stats_;
  std::unordered_map<std::string, GrpcMethodStats*> grpc_stats_;  // "<route>\n<method>"
  std::unordered_map<std::string, uint32_t> open_upgrades_;       // by route name
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::unique_ptr<asio::ip::tcp::acceptor> admin_acceptor_;
  std::function<std::string()> render_metrics_;
  std::unique_ptr<AccessLog> access_log_;
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::string access_log_path_;
  asio::steady_timer tick_timer_{io_};
  uint64_t ticks_ = 0;
  bool draining_ = false;
  std::vector<std::unique_ptr<char[]>> free_buffers_;
  std::vector<std::unique_ptr<http::Parser>> free_request_parsers_;
  std::vector<std::unique_ptr<http::Parser>> free_response_parsers_;
  std::vector<std::string> free_strings_;
  std::vector<Slot> slots_;                 // every live connection, in no order
  std::vector<WorkerConnection*> expired_;  // scratch for the sweep
};

}  // namespace berth::gateway::server
