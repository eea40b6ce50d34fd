// A fake loop for the gateway's data-plane unit tests: a server::Worker that the test's own
// thread drives instead of the worker's thread. Its io_context runs only inside
// RunUntilIdle (every ready handler, readiness included, until nothing is left to run); time
// is a ManualClock that Advance moves, running the tick's sweep of deadlines; clients and
// upstreams are socket pairs (or a loopback listener) whose far ends the test holds as Peers.
// Nothing happens between two calls of the test: no timed assertions, no sleeps.
// Thread-safety: one test thread.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/clock.h"
#include "gateway/server/downstream.h"
#include "gateway/server/exchange.h"
#include "gateway/server/worker.h"

namespace berth::gateway::testing {

// The test's end of a connection: a non-blocking socket.
class Peer {
 public:
  explicit Peer(int fd = -1) : fd_(fd) {}
  ~Peer();
  Peer(Peer&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Peer& operator=(Peer&& o) noexcept;

  // Writes all of `data` (the socket's buffer must take it); false on an error.
  bool Send(std::string_view data);
  // Writes what the socket takes now; the number of bytes written (0 when full).
  size_t SendSome(std::string_view data);
  // Everything that arrived so far, without waiting.
  std::string Receive();
  // The peer closed (EOF seen after any bytes, which Receive has taken).
  bool Closed();
  void ShutdownWrite();
  void Close();
  int fd() const { return fd_; }

 private:
  int fd_;
  bool eof_ = false;
};

// A loopback listener standing for an upstream that must be connected to.
class Listener {
 public:
  Listener();
  ~Listener();
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The next connection the kernel completed (nullopt when there is none yet).
  std::optional<Peer> Accept();

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port on loopback where nothing listens (connections are refused).
std::string RefusingAddress();

class WorkerLoop {
 public:
  explicit WorkerLoop(server::WorkerOptions options = {});
  ~WorkerLoop();

  server::Worker& worker() { return *worker_; }
  ManualClock& clock() { return clock_; }

  // Parses routes.yaml text and applies it on the worker (fails the test on a bad config).
  void SetRoutes(std::string_view yaml);
  // Runs ready handlers (readiness of sockets included) until none is left.
  void RunUntilIdle();
  // Moves the clock by `d`, runs the tick's deadline sweep, then RunUntilIdle.
  void Advance(std::chrono::milliseconds d);

  // A connected socket pair: the worker's end on its io_context, and the test's Peer.
  std::pair<asio::ip::tcp::socket, Peer> SocketPair();
  // A pooled idle connection to `address` of `cluster`, whose upstream end the test holds.
  Peer AddPooledConnection(const std::string& cluster, const std::string& address);

  // Spawns `task` on the worker's io_context; the result appears once it finished.
  template <typename T>
  std::shared_ptr<std::optional<T>> Spawn(asio::awaitable<T> task) {
    auto result = std::make_shared<std::optional<T>>();
    asio::co_spawn(worker_->io(), std::move(task), [result](std::exception_ptr e, T value) {
      if (e) std::rethrow_exception(e);
      *result = std::move(value);
    });
    return result;
  }
  std::shared_ptr<bool> Spawn(asio::awaitable<void> task);

 private:
  ManualClock clock_;
  std::unique_ptr<server::Worker> worker_;
};

// A client connection's Downstream without a ConnectionManager, registered with the worker
// so deadlines reach it: what the UpstreamRequest and BodyPump tests drive.
class TestConnection final : public server::WorkerConnection {
 public:
  TestConnection(WorkerLoop& loop, asio::ip::tcp::socket socket);
  ~TestConnection() override;
  server::Downstream& down() { return down_; }

  // Puts `bytes` in the read buffer and parses the request head from them (fails the test
  // when there is no complete head).
  void ReceiveHead(std::string_view bytes);
  // The exchange for the parsed head, as the connection manager prepares it: the route that
  // matches (nullptr when none does) and the request's fields.
  void Prepare(server::Exchange& ex);

  void OnTimer() override;
  void CloseIfIdle() override {}
  void Close() override { down_.Close(); }
  void set_slot(uint32_t slot) override { down_.set_slot(slot); }

 private:
  WorkerLoop& loop_;
  server::Downstream down_;
};

}  // namespace berth::gateway::testing
