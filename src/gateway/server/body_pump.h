// Moves one exchange's bytes between the client and the upstream, both on HTTP/1.1: the
// request head and body as the body arrives (its framing forwarded raw, every piece checked by
// the request parser before it leaves), then the response head rebuilt for the client and the
// response body forwarded raw as it arrives (de-chunked for an HTTP/1.0 client). Back-pressure
// is the buffers': a buffer is read into again only once its bytes were written out. After a
// 101 answer to an upgrade request the exchange becomes a byte tunnel both ways (Tunnel).
//
// Writes go straight to the socket when it takes them (SendNow) and suspend only when it does
// not; the usual request (head and body in one read) is sent by SendRequestNow without a
// coroutine, SendRequestRest waits for the rest of a body.
// Thread-safety: one worker thread; one pump per exchange at a time on a connection.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <cstdint>

#include "core/http/parser.h"
#include "gateway/server/downstream.h"
#include "gateway/server/exchange.h"

namespace berth::gateway::server {

class RetryState;

class BodyPump {
 public:
  BodyPump(Downstream& down, Exchange& ex) : down_(down), ex_(ex) {}
  BodyPump(const BodyPump&) = delete;
  BodyPump& operator=(const BodyPump&) = delete;

  // --- The request.

  // Feeds the body bytes waiting in the client's read buffer to the request parser (they stay
  // there, counted in ex.fed, until sent): the status for a malformed body, else 0.
  int FeedBody();

  enum class Send {
    kDone,            // head and whole body sent
    kPending,         // SendRequestRest must go on (socket full, or more body to come)
    kClientError,     // a malformed body: client_error() is the status to answer
    kClientGone,      // the client closed (or the connection was closed) mid-body
    kUpstreamFailed,  // a write to the upstream failed
  };
  // Starts a new attempt: sends the request head (the head string, down.out()) and the body
  // bytes already read, without suspending.
  Send SendRequestNow(asio::ip::tcp::socket& up);
  // Finishes what SendRequestNow started: the rest of the writes, then the body as it arrives
  // (under the route's idle timeout).
  asio::awaitable<Send> SendRequestRest(asio::ip::tcp::socket& up);
  int client_error() const { return client_error_; }

  // --- The response.

  enum class End {
    kComplete,        // forwarded whole
    kUpgraded,        // a 101 to an upgrade request was forwarded: Tunnel next
    kRetry,           // its status is one the retry policy retries: nothing was forwarded
    kBadResponse,     // the upstream's bytes do not parse
    kUpstreamFailed,  // the upstream closed or failed (or the request timed out) first
    kClientGone,      // a write to the client failed
  };
  struct Response {
    End end = End::kComplete;
    int status = 0;  // the final status (0 before a head)
    bool head_received = false;
    bool head_sent = false;    // the client has (part of) this response
    bool close_after = false;  // the client connection closes after it
    bool reusable = true;      // the upstream connection may serve another request
  };
  // Reads the upstream's answer on `up` with `parser` (a response parser, reset here) and
  // forwards it; asks `retry` about the status before anything is forwarded.
  asio::awaitable<Response> ForwardResponse(asio::ip::tcp::socket& up, http::Parser& parser,
                                            RetryState& retry);

  // After kUpgraded: bytes both ways until either side ends; then both are shut down.
  // After `idle` without a byte either way (0: never) the connection is closed.
  asio::awaitable<void> Tunnel(asio::ip::tcp::socket& up, std::chrono::milliseconds idle);

 private:
  // Marks what SendNow/async_write sent: the head once, and the fed body bytes.
  void RequestBytesSent();
  // Parses the buffered response bytes; stops at a head to forward, the end, or kNeedMore.
  // `fwd`: raw body bytes at the front of upstream_in to forward as they are.
  bool ParseResponse(http::Parser& parser, RetryState& retry, Response& r, size_t& fwd);
  // Builds the client's head from the upstream's (into the head string).
  void OnResponseHead(const http::MessageHead& rh, Response& r);
  template <typename From, typename To>
  asio::awaitable<void> Copy(From& from, To& to, IoBuffer& buffer, asio::ip::tcp::socket& up,
                             std::chrono::milliseconds idle);

  Downstream& down_;
  Exchange& ex_;
  // Request side, per attempt.
  std::array<asio::const_buffer, 2> pending_;  // what SendRequestNow could not write
  bool head_written_ = false;
  int client_error_ = 0;
  // Response side.
  bool interim_ = false;  // a 1xx (not 101) head was seen: dropped, its message ends first
  bool dechunk_ = false;
};

}  // namespace berth::gateway::server
