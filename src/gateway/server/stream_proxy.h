// The proxy for one request whose two sides do not both speak HTTP/1.1 (Envoy's router
// filter over codec streams): an HTTP/2 client stream to any upstream, or an HTTP/1.1
// request to an HTTP/2 upstream. The request arrives as a DownstreamStream (head, body
// pieces, trailers) and leaves as an UpstreamStream (an HTTP/1.1 codec on a pooled
// connection, or a stream on a pooled HTTP/2 connection); the answer goes back the same way.
// Request body and response move at the same time (gRPC bidirectional streams), each with
// back-pressure: a piece is read from one side only once the other side took the previous.
//
// Besides UpstreamRequest's work (weighted target, circuit breaker, balancer, attempts under
// a RetryState) it keeps up to kReplayBytes of the request body so that an attempt can be
// replayed, honours grpc-timeout, retries on the route's gRPC status codes when the answer
// is a trailers-only one, and answers gRPC requests in gRPC's form (status 200 with
// grpc-status) when the gateway itself has to reply.
// Thread-safety: one worker thread.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/lb/load_balancer.h"
#include "gateway/server/async_event.h"
#include "gateway/server/exchange.h"
#include "gateway/server/http_fields.h"

namespace berth::gateway::server {

class PooledHost;
class RetryState;
class Worker;

// The client's side of one request.
class DownstreamStream {
 public:
  virtual ~DownstreamStream() = default;
  virtual const RequestHead& request() const = 0;
  enum class Body { kData, kEnd, kGone, kInterrupted };
  // The next piece of the request body, appended to `out` (kData); kEnd once it ended (its
  // trailers in request_trailers()); kGone when the client reset the stream or left;
  // kInterrupted when InterruptRead was called meanwhile.
  virtual asio::awaitable<Body> ReadBody(std::string& out) = 0;
  // Makes a pending (or the next) ReadBody return kInterrupted.
  virtual void InterruptRead() = 0;
  // `n` bytes of body were forwarded: the client may send as many more (flow control).
  virtual void BodyForwarded(size_t n) = 0;
  virtual const Fields& request_trailers() const = 0;
  // The response, in order: head, data..., then trailers or an end. False: the client left.
  virtual asio::awaitable<bool> SendHead(ResponseHead head, bool end_stream) = 0;
  virtual asio::awaitable<bool> SendData(std::string_view data, bool end_stream) = 0;
  virtual asio::awaitable<bool> SendTrailers(Fields trailers) = 0;
  // The response cannot be completed (after its head went out): reset the stream / close.
  virtual void Reset() = 0;
  // The client reset the stream or the connection ended.
  virtual bool gone() const = 0;
  // Called (once) when the client goes away while the proxy waits on the upstream.
  virtual void OnGone(std::function<void()> fn) = 0;
};

// One request on an upstream connection.
class UpstreamStream {
 public:
  virtual ~UpstreamStream() = default;
  virtual asio::awaitable<bool> SendHead(const RequestHead& head, bool end_stream) = 0;
  virtual asio::awaitable<bool> SendData(std::string_view data, bool end_stream) = 0;
  virtual asio::awaitable<bool> SendTrailers(const Fields& trailers) = 0;
  enum class Event { kHead, kData, kTrailers, kEnd, kFailed };
  // The next part of the answer: kHead (response()), kData (appended to `data`), kTrailers
  // (trailers()), kEnd; kFailed when the upstream reset, closed or sent nonsense.
  virtual asio::awaitable<Event> Read(std::string& data) = 0;
  virtual const ResponseHead& response() const = 0;
  // After kHead: the answer has no body or trailers (a gRPC "trailers-only" answer).
  virtual bool ended_with_head() const = 0;
  virtual const Fields& trailers() const = 0;
  // Whether the failure was unparseable bytes (502 "bad upstream response").
  virtual bool bad_response() const { return false; }
  // Abandons the exchange (reset / close); Read and the Sends fail from here.
  virtual void Cancel() = 0;
  // The exchange ended: the connection goes back to its pool when it is whole.
  virtual void Finish() = 0;
};

class StreamProxy {
 public:
  // Request body bytes kept for replaying an attempt; a longer body is not retried once
  // some of it went upstream.
  static constexpr size_t kReplayBytes = 64 * 1024;

  // `ex` was prepared (route chosen, filters passed) by the caller.
  StreamProxy(Worker& worker, Exchange& ex, DownstreamStream& down, std::string_view client_ip,
              bool tls);
  ~StreamProxy();
  StreamProxy(const StreamProxy&) = delete;
  StreamProxy& operator=(const StreamProxy&) = delete;

  // Proxies the request; answers it locally when no upstream can.
  asio::awaitable<void> Run();

  // The gateway's own answer to `down` (no route, a filter, no upstream...): plain text, or
  // for a gRPC request a trailers-only answer with the grpc-status for `status`.
  static asio::awaitable<void> LocalReply(DownstreamStream& down, int status, std::string_view body,
                                          const HeaderList* headers, const HeaderList* add_headers,
                                          std::string_view request_id);

 private:
  enum class Attempt { kDone, kRetry, kReply };
  struct DeadlineState {
    StreamProxy* proxy;
  };
  // A connection (or HTTP/2 stream) to `host` by the route's protocol; nullptr with the
  // reply set, or with `retry_connect` when a connect failure may be retried.
  asio::awaitable<std::unique_ptr<UpstreamStream>> Open(PooledHost& host, bool& retry_connect);
  asio::awaitable<std::unique_ptr<UpstreamStream>> OpenHttp2(PooledHost& host, bool& retry_connect);
  asio::awaitable<Attempt> RunAttempt(UpstreamStream& up, RetryState& retry);
  // Sends the request body: what was kept from earlier attempts, then what arrives.
  asio::awaitable<void> PumpRequest(UpstreamStream& up);
  // Forwards the answer after its head; false when it could not be completed.
  asio::awaitable<bool> PumpResponse(UpstreamStream& up);
  // Ends the request pump of an attempt (it was spawned) and waits for it.
  asio::awaitable<void> StopPump();
  // The answer's head arrived: forwards it and the rest (kDone), or retries (kRetry).
  asio::awaitable<Attempt> OnResponse(UpstreamStream& up, RetryState& retry);
  // The upstream failed before its answer's head.
  asio::awaitable<Attempt> OnUpstreamFailure(UpstreamStream& up, RetryState& retry);
  void BuildUpstreamHead();
  void StartDeadline();
  void OnDeadline();
  Attempt Reply(int status, std::string_view body, const char* flags,
                const HeaderList* headers = nullptr);

  Worker& worker_;
  Exchange& ex_;
  DownstreamStream& down_;
  std::string_view client_ip_;
  const bool tls_;
  bool grpc_ = false;
  RequestHead upstream_head_;
  PooledHost* host_ = nullptr;
  // The request body: what was sent (up to kReplayBytes) for replays, and its state.
  std::string replay_;
  bool replayable_ = true;
  bool body_ended_ = false;
  bool body_started_ = false;  // a piece of body went upstream in this attempt
  // The request pump of the current attempt.
  bool pump_running_ = false;
  bool pump_failed_ = false;
  AsyncEvent pump_done_;
  // The deadline (route's request timeout, or the client's grpc-timeout if shorter).
  std::unique_ptr<asio::steady_timer> deadline_;
  std::shared_ptr<DeadlineState> deadline_state_;
  bool timed_out_ = false;
  bool head_sent_ = false;  // the client has the answer's head
  UpstreamStream* current_ = nullptr;
  asio::ip::tcp::socket* connecting_ = nullptr;
};

}  // namespace berth::gateway::server
