// One client connection on a worker (Envoy's HTTP connection manager and router filter in
// one object): reads requests with the strict incremental parser, answers malformed ones
// itself (400/413/414/431/501/505, never forwarded), runs the route's filters, picks an
// upstream through the cluster's balancer, and streams the request and response bodies
// through fixed-size buffers, keep-alive and pipelining included. Upgrades (WebSocket) become
// a bidirectional byte pump after the upstream's 101.
//
// Lifetime: owned (shared_ptr) by the coroutine serving its requests. A plain-TCP keep-alive
// connection that has just served a request waits for the next one inside that coroutine
// (a busy connection keeps it: no co_spawn per request); once it has been idle for
// kHotIdle (plus up to one tick) the coroutine ends and the connection is owned by the
// handler of its readiness wait alone: an idle connection holds no coroutine, buffer,
// parser, head string or timer (the worker's tick sweeps deadlines). Registered with its
// Worker for drain/stop and timeouts.
// Thread-safety: lives on its worker thread only.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <memory>
#include <optional>
#include <string>

#include "core/http/parser.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

// A read buffer taken from the worker's pool while in use.
struct IoBuffer {
  std::unique_ptr<char[]> data;
  size_t begin = 0;
  size_t end = 0;

  std::string_view view() const { return {data.get() + begin, end - begin}; }
  size_t size() const { return end - begin; }
  bool empty() const { return begin == end; }
  void Consume(size_t n) {
    begin += n;
    if (begin == end) begin = end = 0;
  }
  // Free space at the end, compacting first when the tail is full.
  char* WritePtr() { return data.get() + end; }
  size_t WriteSpace() {
    if (end == Worker::kBufferSize && begin > 0) {
      std::memmove(data.get(), data.get() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    return Worker::kBufferSize - end;
  }
  // The free space as one buffer for a read. WriteSpace() may compact (moving the data and
  // `end`), so the pointer is taken after it: never `buffer(WritePtr(), WriteSpace())`, whose
  // argument order is unspecified.
  asio::mutable_buffer ReadInto() {
    const size_t space = WriteSpace();
    return {WritePtr(), space};
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, asio::ip::tcp::socket socket, bool admin);
  ~Session();
  // Starts serving on the worker thread.
  void Start();
  // Drain: closes the connection now if it is idle between requests.
  void CloseIfIdle();
  // Stop: closes the connection whatever it is doing.
  void Close();
  // The worker's sweep: this session's deadline passed.
  void OnTimer();
  void set_slot(uint32_t slot) { slot_ = slot; }

  // How long a keep-alive connection waits for its next request inside its coroutine
  // before giving the coroutine up (the worker's tick notices up to one tick later).
  static constexpr std::chrono::milliseconds kHotIdle{100};

 private:
  // kIdleHot: between requests, waiting inside the coroutine; kIdle: waiting without one
  // (or, through TLS, reading inside it).
  enum class Phase : uint8_t { kNone, kIdle, kIdleHot, kHead, kUpstream, kStreaming };
  // kMore (ReadHeadNow only): ReadHead must read on; kBad (ReadHeadNow only): a malformed
  // head, the error in bad_.
  enum class HeadResult { kHead, kIdle, kEnd, kMore, kBad };
  struct Exchange;

  // Waits (without a coroutine) until the client sends bytes, then runs Serve().
  // `after_request`: the connection just served one (its last read was short), so the wait
  // needs no system call (ready_wait.h).
  void WaitForRequest(bool after_request, Clock::TimePoint deadline);
  asio::awaitable<void> Serve(std::shared_ptr<Session> self, bool readable);
  // Reads until the parser reports a head. kIdle: nothing buffered and the client sent
  // nothing more (plain TCP only): the caller gives everything back and waits.
  asio::awaitable<HeadResult> ReadHead(bool readable);
  // ReadHead's synchronous part: parses what is buffered and, when `readable`, reads once
  // without waiting (and clears `readable`). kMore: ReadHead goes on from there.
  HeadResult ReadHeadNow(bool& readable);
  // The request whose head was just parsed: host, target, request id, route, filters. True:
  // Proxy it; false: answer it with ex.reply_* (no route, a filter stopped it...).
  bool Prepare(Exchange& ex);
  // After the exchange: stats and the access log line.
  void Finish(Exchange& ex);
  asio::awaitable<bool> HandleAdmin();
  asio::awaitable<bool> Proxy(Exchange& ex);
  // Sends a local reply; the connection closes after it when `close` or a body is unread.
  asio::awaitable<bool> Reply(Exchange* ex, int status, std::string_view body,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              bool close);
  template <typename From, typename To>
  asio::awaitable<void> Pump(From& from, To& to, IoBuffer& buffer);
  // Client-side I/O, through TLS when the listener terminates it.
  template <typename Buffers>
  auto DownRead(const Buffers& b, asio::error_code& ec) {
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    return tls_ ? tls_->async_read_some(b, token) : socket_.async_read_some(b, token);
  }
  template <typename Buffers>
  auto DownWrite(const Buffers& b, asio::error_code& ec) {
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    return tls_ ? asio::async_write(*tls_, b, token) : asio::async_write(socket_, b, token);
  }

  // Feeds the request body bytes waiting in in_ to the parser (they stay in in_ until sent);
  // returns the error status of a malformed body, else 0.
  int FeedBody(Exchange& ex);
  bool EnsureBuffer(IoBuffer& b);
  // A client read came back short: the socket is empty until its next readiness edge.
  void DownDrained();
  // Gives back the parser, the empty buffers and the head string (idle connection).
  void ReleaseBuffers();
  // out_, cleared, with capacity from the worker's pool.
  std::string& Out();
  void SetPhase(Phase phase, std::chrono::milliseconds timeout);
  // The keep-alive deadline from now (max when there is no idle timeout).
  Clock::TimePoint IdleDeadline() const;

  Worker& worker_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  // when terminating TLS
  std::string client_ip_;
  std::unique_ptr<http::Parser> parser_;  // request parser, from the worker while not idle
  http::ParseError bad_;                  // ReadHeadNow's kBad
  IoBuffer in_;
  IoBuffer upstream_in_;
  std::string out_;
  asio::ip::tcp::socket* upstream_ = nullptr;  // during an exchange, for timeouts
  uint32_t slot_;                              // in the worker's session table
  Clock::TimePoint idle_deadline_;             // of the keep-alive wait in kIdleHot
  Phase phase_ = Phase::kNone;
  const bool admin_;
  bool timed_out_ = false;
  bool closed_ = false;
};

}  // namespace berth::gateway::server
