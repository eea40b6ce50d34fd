// One client connection on a worker (Envoy's HTTP connection manager): reads requests with
// the strict incremental parser and answers malformed ones itself (400/413/414/431/501/505,
// never forwarded), finds each request's route, runs the route's filters, then hands the
// request to an UpstreamRequest or answers it locally (no route, a filter stopped it, or no
// upstream could answer), and records the exchange's stats and access log line. Keep-alive
// and pipelining; an upgraded exchange ends the connection's HTTP life (a byte tunnel).
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
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string_view>

#include "core/http/parser.h"
#include "gateway/server/downstream.h"
#include "gateway/server/exchange.h"
#include "gateway/server/http2_connection.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

class ConnectionManager final : public WorkerConnection,
                                public std::enable_shared_from_this<ConnectionManager> {
 public:
  // `admin`: the admin listener's connection (GET /metrics, /ready; never TLS).
  ConnectionManager(Worker& worker, asio::ip::tcp::socket socket, bool admin);
  ~ConnectionManager() override;
  ConnectionManager(const ConnectionManager&) = delete;
  ConnectionManager& operator=(const ConnectionManager&) = delete;

  // Starts serving on the worker thread.
  void Start();
  // WorkerConnection: drain, stop, the worker's sweep of deadlines.
  void CloseIfIdle() override;
  void Close() override { down_.Close(); }
  void OnTimer() override;
  void set_slot(uint32_t slot) override { down_.set_slot(slot); }
  bool closed() const { return down_.closed(); }

  // How long a keep-alive connection waits for its next request inside its coroutine
  // before giving the coroutine up (the worker's tick notices up to one tick later).
  static constexpr std::chrono::milliseconds kHotIdle{100};

 private:
  // kMore (ReadHeadNow only): ReadHead must read on; kBad (ReadHeadNow only): a malformed
  // head, the error in bad_; kIdle: nothing buffered and the client sent nothing more (plain
  // TCP only): the caller gives everything back and waits.
  // kHttp2: the client sent HTTP/2's connection preface (prior knowledge, first request only).
  enum class HeadResult { kHead, kIdle, kEnd, kMore, kBad, kHttp2 };

  // Waits (without a coroutine) until the client sends bytes, then runs Serve().
  // `after_request`: the connection just served one (its last read was short), so the wait
  // needs no system call (ready_wait.h).
  void WaitForRequest(bool after_request, Clock::TimePoint deadline);
  asio::awaitable<void> Serve(std::shared_ptr<ConnectionManager> self, bool readable);
  // Reads until the parser reports a head.
  asio::awaitable<HeadResult> ReadHead(bool readable);
  // ReadHead's synchronous part: parses what is buffered and, when `readable`, reads once
  // without waiting (and clears `readable`). kMore: ReadHead goes on from there.
  HeadResult ReadHeadNow(bool& readable);
  // The request whose head was just parsed: host, target, request id, route, filters. True:
  // proxy it; false: answer it with the Exchange's reply (no route, a filter stopped it...).
  bool Prepare(Exchange& ex);
  asio::awaitable<bool> HandleAdmin();
  // Sends a local reply; the connection closes after it when `close` or a body is unread.
  asio::awaitable<bool> Reply(Exchange* ex, int status, std::string_view body,
                              const HeaderList& headers, bool close);

  // 1: down_.in() starts with the HTTP/2 preface; 0: it does not; -1: too few bytes to tell.
  int Http2Preface() const;
  // Serves the rest of the connection as HTTP/2.
  asio::awaitable<void> ServeHttp2(std::shared_ptr<ConnectionManager> self);

  Worker& worker_;
  Downstream down_;
  std::unique_ptr<Http2Connection> h2_;  // once the connection speaks HTTP/2
  bool served_ = false;                  // a request was read: no HTTP/2 preface any more
  http::ParseError bad_;            // ReadHeadNow's kBad
  Clock::TimePoint idle_deadline_;  // of the keep-alive wait in kIdleHot
  const bool admin_;
};

}  // namespace berth::gateway::server
