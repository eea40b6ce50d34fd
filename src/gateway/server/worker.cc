#include "gateway/server/worker.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "gateway/server/access_log.h"
#include "gateway/server/connection_manager.h"

namespace berth::gateway::server {

using asio::ip::tcp;

Worker::Worker(int index, WorkerOptions options, const Clock& clock)
    : index_(index),
      options_(std::move(options)),
      clock_(clock),
      hand_over_fd_(io_),
      clusters_(random_, clock_, stats_) {
  // Other threads write to wake_fd_, which stays open until the destructor; the worker waits
  // on a duplicate that Stop closes (so writers never race with that close).
  asio::error_code ec;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const int fd = wake_fd_ < 0 ? -1 : ::fcntl(wake_fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    ec = asio::error_code(errno, asio::system_category());
  } else if (hand_over_fd_.assign(fd, ec); ec) {
    ::close(fd);
  }
  if (ec)
    hand_over_error_ = "gateway: worker " + std::to_string(index) + ": eventfd: " + ec.message();
}

Worker::~Worker() {
  Stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Result<uint16_t> Worker::Listen(const tcp::endpoint& endpoint, bool freebind) {
  if (!hand_over_error_.empty()) return Fail(ErrorCode::kUnavailable, hand_over_error_);
  asio::error_code ec;
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  int one = 1;
  if (!ec &&
      ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    ec = asio::error_code(errno, asio::system_category());
  }
  if (!ec && freebind &&
      ::setsockopt(acceptor->native_handle(), SOL_IP, IP_FREEBIND, &one, sizeof(one)) != 0) {
    ec = asio::error_code(errno, asio::system_category());
  }
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(4096, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable, "gateway: listen on " + endpoint.address().to_string() +
                                             ":" + std::to_string(endpoint.port()) + ": " +
                                             ec.message());
  }
  uint16_t port = acceptor->local_endpoint().port();
  acceptors_.push_back(std::move(acceptor));
  return port;
}

Result<uint16_t> Worker::ListenAdmin(const tcp::endpoint& endpoint,
                                     std::function<std::string()> render_metrics) {
  asio::error_code ec;
  admin_acceptor_ = std::make_unique<tcp::acceptor>(io_);
  admin_acceptor_->open(endpoint.protocol(), ec);
  if (!ec) admin_acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) admin_acceptor_->bind(endpoint, ec);
  if (!ec) admin_acceptor_->listen(128, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "gateway: admin listen: " + ec.message());
  render_metrics_ = std::move(render_metrics);
  return admin_acceptor_->local_endpoint().port();
}

std::string Worker::RenderMetrics() { return render_metrics_ ? render_metrics_() : std::string(); }

void Worker::Start() {
  for (auto& a : acceptors_) Accept(*a, false);
  if (admin_acceptor_) Accept(*admin_acceptor_, true);
  TickLater();
  WaitForHandOver();
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    io_.run();
    if (access_log_) access_log_->Flush();  // lines of requests that ended during Stop
  });
}

void Worker::Accept(tcp::acceptor& acceptor, bool admin) {
  asio::co_spawn(
      io_,
      [this, &acceptor, admin]() -> asio::awaitable<void> {
        for (;;) {
          asio::error_code ec;
          tcp::socket socket =
              co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
          if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            if (ec == asio::error::no_descriptors) {
              log::Warn("gateway", "worker {}: accept: out of file descriptors", index_);
              asio::steady_timer t(io_, std::chrono::milliseconds(50));
              co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
            continue;
          }
          if (draining_) continue;  // closes the socket
          std::make_shared<ConnectionManager>(*this, std::move(socket), admin)->Start();
        }
      },
      asio::detached);
}

void Worker::RunOnWorker(std::function<void()> fn) {
  {
    std::lock_guard lock(hand_over_mu_);
    hand_over_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  // Fails only when the counter would overflow: then the worker is woken already.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void Worker::WaitForHandOver() {
  hand_over_fd_.async_wait(
      asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& ec) {
        if (ec) return;  // closed by Stop
        uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(hand_over_fd_.native_handle(), &count, sizeof(count));
        RunHandedOver();
        if (hand_over_fd_.is_open()) WaitForHandOver();
      });
}

void Worker::RunHandedOver() {
  {
    std::lock_guard lock(hand_over_mu_);
    handed_.swap(hand_over_);
  }
  // Stop's task closes hand_over_fd_: nothing after it runs.
  bool stop = false;
  for (auto& fn : handed_) {
    if (!stop) fn();
    stop = !hand_over_fd_.is_open();
  }
  handed_.clear();
}

void Worker::TickLater() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](const asio::error_code& ec) {
    // Stop cancels the timer, but a tick that expired just before is already queued and
    // completes without an error: without this check it would re-arm the timer and run()
    // would never return (Stop hung in join).
    if (ec || stopped_.load(std::memory_order_relaxed)) return;
    if (access_log_) access_log_->Flush();
    SweepDeadlines();
    // Every 10 s, hand freed heap pages back to the kernel: after a burst of connections the
    // buffers they used would otherwise stay resident.
    if (++ticks_ % (10'000 / kTick.count()) == 0) malloc_trim(0);
    TickLater();
  });
}

void Worker::SweepDeadlines() {
  if (slots_.empty()) return;
  const Clock::TimePoint now = clock_.Now();
  expired_.clear();
  for (auto& slot : slots_) {
    if (slot.deadline <= now) {
      slot.deadline = Clock::TimePoint::max();
      expired_.push_back(slot.connection);
    }
  }
  // OnTimer closes sockets; the connections unwind (and unregister) later, from their handlers.
  for (WorkerConnection* c : expired_) c->OnTimer();
}

uint32_t Worker::Register(WorkerConnection* c) {
  slots_.push_back({c, Clock::TimePoint::max()});
  return static_cast<uint32_t>(slots_.size() - 1);
}

void Worker::Unregister(uint32_t slot) {
  if (slot + 1 != slots_.size()) {
    slots_[slot] = slots_.back();
    slots_[slot].connection->set_slot(slot);
  }
  slots_.pop_back();
}

void Worker::SetRoutes(std::shared_ptr<const router::RouteTable> table) {
  RunOnWorker([this, table = std::move(table)]() mutable {
    clusters_.Update(table->snapshot());
    route_stats_.clear();
    for (const auto& r : table->snapshot().routes) route_stats_[r.get()] = stats_.Route(r->name);
    const std::string& path = options_.access_log_path.empty() ? table->snapshot().access_log_path
                                                               : options_.access_log_path;
    if (path != access_log_path_ || (!access_log_ && !path.empty())) {
      access_log_path_ = path;
      access_log_ = std::make_unique<AccessLog>(path);
    }
    routes_ = std::move(table);
  });
}

RouteStats* Worker::RouteStatsFor(const router::Route* route) {
  auto it = route_stats_.find(route);
  if (it != route_stats_.end()) return it->second;
  // A request that matched on a table already replaced on this worker.
  return route_stats_[route] = stats_.Route(route->name);
}

GrpcMethodStats* Worker::GrpcStatsFor(const router::Route& route, std::string_view method) {
  std::string key = route.name;
  key += '\n';
  key += method;
  auto it = grpc_stats_.find(key);
  if (it != grpc_stats_.end()) return it->second;
  bool other = false;
  GrpcMethodStats* s = stats_.Grpc(route.name, method, &other);
  // Methods past the per-route cap share "other": those are not cached (the cache stays
  // as bounded as the stats).
  if (!other) grpc_stats_[key] = s;
  return s;
}

void Worker::Drain() {
  RunOnWorker([this] {
    draining_ = true;
    asio::error_code ec;
    for (auto& a : acceptors_) a->close(ec);
    std::vector<WorkerConnection*> idle;
    for (const auto& slot : slots_) idle.push_back(slot.connection);
    for (WorkerConnection* c : idle) c->CloseIfIdle();
    clusters_.CloseIdle();
  });
}

void Worker::Stop() {
  if (stopped_.exchange(true)) return;
  RunOnWorker([this] {
    draining_ = true;
    asio::error_code ec;
    for (auto& a : acceptors_) a->close(ec);
    if (admin_acceptor_) admin_acceptor_->close(ec);
    std::vector<WorkerConnection*> all;
    for (const auto& slot : slots_) all.push_back(slot.connection);
    for (WorkerConnection* c : all) c->Close();
    clusters_.CloseIdle();
    tick_timer_.cancel();
    hand_over_fd_.close(ec);  // nothing is handed over after Stop
    if (access_log_) access_log_->Flush();
    // run() returns once the closed sessions have unwound and no timer is pending.
    work_.reset();
  });
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<char[]> Worker::TakeBuffer() {
  if (free_buffers_.empty()) return std::make_unique_for_overwrite<char[]>(kBufferSize);
  auto b = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  return b;
}

void Worker::GiveBuffer(std::unique_ptr<char[]> buffer) {
  if (free_buffers_.size() < 64) free_buffers_.push_back(std::move(buffer));
}

std::unique_ptr<http::Parser> Worker::TakeParser(http::MessageKind kind) {
  auto& pool = kind == http::MessageKind::kRequest ? free_request_parsers_ : free_response_parsers_;
  if (pool.empty()) {
    return kind == http::MessageKind::kRequest
               ? std::make_unique<http::Parser>(kind, options_.limits)
               : std::make_unique<http::Parser>(kind);
  }
  auto p = std::move(pool.back());
  pool.pop_back();
  p->Reset();
  return p;
}

void Worker::GiveParser(http::MessageKind kind, std::unique_ptr<http::Parser> parser) {
  if (!parser) return;
  auto& pool = kind == http::MessageKind::kRequest ? free_request_parsers_ : free_response_parsers_;
  // A parser keeps the capacity of the largest head it held: keep a bounded number.
  if (pool.size() < 256) pool.push_back(std::move(parser));
}

std::string Worker::TakeString() {
  if (free_strings_.empty()) {
    std::string s;
    s.reserve(1024);
    return s;
  }
  std::string s = std::move(free_strings_.back());
  free_strings_.pop_back();
  s.clear();
  return s;
}

void Worker::GiveString(std::string s) {
  if (s.capacity() >= 256 && s.capacity() <= 64 * 1024 && free_strings_.size() < 64) {
    free_strings_.push_back(std::move(s));
  }
}

}  // namespace berth::gateway::server
