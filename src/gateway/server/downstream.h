// The client side of one connection, as every part of its session uses it (Envoy's network
// connection under the HTTP connection manager): the socket (through TLS when the listener
// terminates it), the read buffers, the request parser, the string heads are built in, and
// the connection's deadline in its worker's session table, set by phase.
//
// Owned by the ConnectionManager; the UpstreamRequest and BodyPump of the request being
// served use it by reference. Buffers, the parser and the head string come from the worker's
// pools while the connection is busy and go back when it is idle (ReleaseBuffers).
// Thread-safety: lives on its worker thread only.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/http/parser.h"
#include "gateway/server/io_buffer.h"
#include "gateway/server/socket_io.h"

namespace berth::gateway::server {

class Worker;

class Downstream {
 public:
  // What the connection is doing, for its deadline: kIdleHot, between requests waiting inside
  // the connection's coroutine; kIdle, waiting without one (or, through TLS, reading inside
  // it); kHead, reading a head; kUpstream, waiting for the upstream's answer (a timeout closes
  // the upstream socket and the request answers 504); kStreaming, bodies moving (a timeout
  // closes the connection).
  enum class Phase : uint8_t { kNone, kIdle, kIdleHot, kHead, kUpstream, kStreaming };

  // `tls`: the listener terminates TLS with the worker's context.
  Downstream(Worker& worker, asio::ip::tcp::socket socket, bool tls);
  ~Downstream();
  Downstream(const Downstream&) = delete;
  Downstream& operator=(const Downstream&) = delete;

  Worker& worker() { return worker_; }
  asio::ip::tcp::socket& socket() { return socket_; }
  asio::ssl::stream<asio::ip::tcp::socket&>* tls() { return tls_.get(); }
  const std::string& client_ip() const { return client_ip_; }

  // The request parser, taken from the worker's pool on first use.
  http::Parser& parser();
  bool has_parser() const { return parser_ != nullptr; }
  // Client bytes read and not yet consumed (the parser consumes heads; bodies are consumed
  // when forwarded).
  IoBuffer& in() { return in_; }
  const IoBuffer& in() const { return in_; }
  // The upstream's response bytes (a second buffer, or in_'s when the request is done).
  IoBuffer& upstream_in() { return upstream_in_; }
  // Gives `b` a buffer from the worker's pool when it has none.
  void EnsureBuffer(IoBuffer& b);
  // The head string, cleared, with capacity from the worker's pool.
  std::string& Out();
  // The head string as it is.
  std::string& out() { return out_; }
  // Gives back the idle parser, the empty buffers and the head string (idle connection).
  void ReleaseBuffers();

  // Client I/O, through TLS when terminating it.
  template <typename Buffers>
  auto Read(const Buffers& b, asio::error_code& ec) {
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    return tls_ ? tls_->async_read_some(b, token) : socket_.async_read_some(b, token);
  }
  template <typename Buffers>
  auto Write(const Buffers& b, asio::error_code& ec) {
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    return tls_ ? asio::async_write(*tls_, b, token) : asio::async_write(socket_, b, token);
  }
  // Writes what the socket takes now (plain TCP) and advances `bufs`; true when all went.
  // False with `ec` clear: the caller co_awaits Write(bufs, ec) for the rest (always so
  // through TLS).
  template <size_t N>
  bool WriteNow(std::array<asio::const_buffer, N>& bufs, asio::error_code& ec) {
    ec = {};
    return !tls_ && SendNow(socket_, bufs, ec);
  }
  // A client read came back short: the socket is empty until its next readiness edge.
  void Drained();

  // The deadline (worker's session table): `timeout` from now, none for 0 or kNone.
  void SetPhase(Phase phase, std::chrono::milliseconds timeout);
  void SetPhaseUntil(Phase phase, Clock::TimePoint deadline);
  Phase phase() const { return phase_; }
  void set_slot(uint32_t slot) { slot_ = slot; }
  uint32_t slot() const { return slot_; }
  // The keep-alive deadline from now (max when there is no idle timeout).
  Clock::TimePoint IdleDeadline() const;

  // The upstream socket of the exchange in progress: closed with the connection, and by a
  // timeout in kUpstream. nullptr when there is none.
  void WatchUpstream(asio::ip::tcp::socket* s) { upstream_ = s; }
  // A deadline passed in a busy phase: closes the upstream (kUpstream) or the connection, and
  // marks the exchange timed out.
  void OnTimeout();
  bool timed_out() const { return timed_out_; }
  void clear_timed_out() { timed_out_ = false; }

  // Closes the connection (and the watched upstream socket) whatever it is doing.
  void Close();
  bool closed() const { return closed_; }

 private:
  Worker& worker_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  std::string client_ip_;
  std::unique_ptr<http::Parser> parser_;  // request parser, from the worker while not idle
  IoBuffer in_;
  IoBuffer upstream_in_;
  std::string out_;
  asio::ip::tcp::socket* upstream_ = nullptr;
  uint32_t slot_ = 0;
  Phase phase_ = Phase::kNone;
  bool timed_out_ = false;
  bool closed_ = false;
};

}  // namespace berth::gateway::server
