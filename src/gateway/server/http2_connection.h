// A client connection speaking HTTP/2 (after ALPN "h2" on TLS, or the prior-knowledge
// preface in clear text): nghttp2 frames and flow-controls it (Http2Session), and each
// request stream is routed, filtered and proxied on its own by a StreamProxy, in a coroutine
// of its own, all on the connection's worker thread.
//
// Flow control is end to end: a stream's request body is acknowledged to the client
// (WINDOW_UPDATE) only as it is forwarded upstream, and a stream's response is read from the
// upstream only while less than kResponseBuffer bytes of it wait for the client's window.
// Drain (shutdown, SIGTERM) sends GOAWAY, lets the open streams finish and then closes; an
// idle connection (no stream) is closed after the worker's idle timeout, with a GOAWAY.
// The protections of Http2Limits apply; on top, a connection whose streams keep sending
// header lists over the limit (answered 431 each) gets a GOAWAY after kMaxOversizedHeaders.
// Lifetime: owned by its ConnectionManager; every stream coroutine holds the manager (`owner`)
// so the connection outlives them. Thread-safety: the worker thread only.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/server/async_event.h"
#include "gateway/server/downstream.h"
#include "gateway/server/http2_session.h"
#include "gateway/server/stream_proxy.h"

namespace berth::gateway::server {

class Http2Connection;

// One request stream of a client's HTTP/2 connection, as the StreamProxy sees it.
class Http2Stream final : public DownstreamStream {
 public:
  Http2Stream(Http2Connection& conn, int32_t id);
  ~Http2Stream() override;

  const RequestHead& request() const override { return request_; }
  asio::awaitable<Body> ReadBody(std::string& out) override;
  void InterruptRead() override;
  void BodyForwarded(size_t n) override;
  const Fields& request_trailers() const override { return trailers_; }
  asio::awaitable<bool> SendHead(ResponseHead head, bool end_stream) override;
  asio::awaitable<bool> SendData(std::string_view data, bool end_stream) override;
  asio::awaitable<bool> SendTrailers(Fields trailers) override;
  void Reset() override;
  bool gone() const override { return closed_; }
  void OnGone(std::function<void()> fn) override { on_gone_ = std::move(fn); }

  int32_t id() const { return id_; }
  // The response was submitted whole (its end is queued).
  bool response_ended() const { return response_ended_; }

 private:
  friend class Http2Connection;
  // Bytes waiting for the client's window before SendData waits.
  static constexpr size_t kResponseBuffer = 64 * 1024;

  void Closed();  // the stream ended on the connection (either side)
  // Response bytes or trailers were queued: wakes the data provider if it was waiting.
  void ResponseQueued();

  Http2Connection& conn_;
  const int32_t id_;
  // Request side (filled by the connection's callbacks).
  RequestHead request_;
  size_t header_bytes_ = 0;
  bool oversized_ = false;     // the header list passed the limit: answered 431
  bool headers_done_ = false;  // the request head ended: trailers come next
  bool has_body_ = false;      // the head did not end the stream
  Fields trailers_;
  std::string body_;  // arrived, not yet read by ReadBody
  bool body_end_ = false;
  bool interrupted_ = false;
  AsyncEvent request_event_;
  // Response side.
  std::string out_;  // response body bytes waiting for the data provider
  size_t out_pos_ = 0;
  bool out_end_ = false;  // nothing follows out_ but the trailers
  Fields response_trailers_;
  bool trailers_pending_ = false;
  bool deferred_ = false;  // the data provider said DEFERRED: resume when bytes come
  bool response_ended_ = false;
  AsyncEvent response_event_;
  bool closed_ = false;
  std::function<void()> on_gone_;
};

class Http2Connection final : public Http2Session {
 public:
  // After this many streams answered 431 for oversized headers, the connection ends.
  static constexpr int kMaxOversizedHeaders = 10;

  Http2Connection(Downstream& down, const Http2Limits& limits);
  ~Http2Connection() override;

  // Serves the connection until it ends (bytes already read, the preface first, wait in
  // down.in()). `owner` (the ConnectionManager) is held by the connection while it serves
  // and by each stream's coroutine until it ends.
  asio::awaitable<void> Serve(std::shared_ptr<void> owner);
  // Drain: GOAWAY now; the connection closes once its open streams ended.
  void Drain();
  // The idle timeout (no open stream) passed: GOAWAY and close.
  void OnIdleTimeout();
  bool draining() const { return draining_; }

  // For the streams.
  Downstream& down() { return down_; }
  const asio::any_io_executor& executor() const { return executor_; }
  nghttp2_data_provider DataProviderFor() { return DataProvider(); }
  ssize_t ReadStreamData(Http2Stream& s, uint8_t* buf, size_t size, uint32_t* flags);

 protected:
  int OnBeginHeaders(const nghttp2_frame& frame) override;
  int OnHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override;
  int OnFrameRecv(const nghttp2_frame& frame) override;
  int OnDataChunk(int32_t stream_id, std::string_view data) override;
  int OnStreamClose(int32_t stream_id, uint32_t error_code) override;
  ssize_t ReadData(int32_t stream_id, uint8_t* buf, size_t size, uint32_t* flags) override;
  void OnIoError() override;
  void OnFlushed() override;
  std::shared_ptr<void> KeepAlive() override { return owner_; }

 private:
  Http2Stream* Find(int32_t id);
  // Starts a coroutine for each stream whose request head completed in the last Receive.
  void StartStreams();
  asio::awaitable<void> ServeStream(std::shared_ptr<Http2Stream> stream,
                                    std::shared_ptr<void> owner);
  // The request head of `s` ended: checks it (431 for oversized, 400 for malformed).
  void OnRequestHead(Http2Stream& s, bool end_stream);
  // Ends every stream (the connection is gone) and closes the socket.
  void Shutdown();
  void UpdateIdleDeadline();
  // Sends GOAWAY with `error_code` (once): streams above the last one processed are refused.
  void Goaway(uint32_t error_code);

  Downstream& down_;
  std::shared_ptr<void> owner_;
  asio::any_io_executor executor_;
  std::unordered_map<int32_t, std::shared_ptr<Http2Stream>> streams_;
  std::vector<std::shared_ptr<Http2Stream>> starting_;
  bool draining_ = false;
  int32_t goaway_last_id_ = 0;  // the last stream id our GOAWAY lets finish
  bool shut_ = false;
  int oversized_headers_ = 0;
};

}  // namespace berth::gateway::server
