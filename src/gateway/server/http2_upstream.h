// HTTP/2 to an upstream host: one client connection (h2c, or h2 over TLS with ALPN) carries
// many requests at once as its streams, up to the concurrency the upstream announces. Each
// worker keeps its own connections per host (PooledHost::h2), opened on demand within the
// cluster's max_connections and shared by every request to that host; one that received a
// GOAWAY takes no new streams and leaves the pool once its streams ended.
//
// Flow control is end to end, as on the client side: response data is acknowledged to the
// upstream only as the proxy takes it (and so only as fast as the client reads), and a
// stream's request body waits in at most kRequestBuffer bytes for the upstream's window.
// Lifetime: shared by the pool, its reading coroutine and its streams.
// Thread-safety: the worker thread only.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "gateway/router/route.h"
#include "gateway/server/async_event.h"
#include "gateway/server/http2_session.h"
#include "gateway/server/stream_proxy.h"

namespace berth::gateway::server {

class PooledHost;
class WorkerCluster;
class Worker;
class Http2UpstreamStream;

class Http2Upstream final : public Http2Session,
                            public std::enable_shared_from_this<Http2Upstream> {
 public:
  Http2Upstream(Worker& worker, std::shared_ptr<WorkerCluster> cluster, PooledHost& host,
                router::UpstreamProtocol protocol);
  ~Http2Upstream() override;

  // Connects (TCP, then TLS with ALPN "h2" for kH2) and sends the preface; then reads in a
  // coroutine of its own. False when that failed (error() says why); `cancelled` ends the
  // wait early (the request left).
  asio::awaitable<bool> Connect(const std::function<bool()>& cancelled);
  // Waits until a Connect in progress ended.
  asio::awaitable<void> WaitConnected();
  bool connecting() const { return state_ == State::kConnecting; }
  // Whether a new stream may start now (connected, no GOAWAY, below the upstream's limit).
  bool Available() const;
  // A new stream (the request is sent by its SendHead).
  std::unique_ptr<Http2UpstreamStream> NewStream();
  // Ends the connection (drain, stop): its streams fail.
  void Close();
  // Its host left the routes: no new stream; closes once the open ones ended.
  void Retire();
  // The error that ended a failed Connect.
  const std::string& connect_error() const { return connect_error_; }

  // For the streams.
  nghttp2_data_provider DataProviderFor() { return DataProvider(); }
  asio::any_io_executor worker_executor();
  bool tls() const { return protocol_ == router::UpstreamProtocol::kH2; }
  void Register(int32_t id, Http2UpstreamStream* s) { streams_[id] = s; }
  void Unregister(int32_t id) { streams_.erase(id); }

 protected:
  int OnBeginHeaders(const nghttp2_frame& frame) override;
  int OnHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override;
  int OnFrameRecv(const nghttp2_frame& frame) override;
  int OnDataChunk(int32_t stream_id, std::string_view data) override;
  int OnStreamClose(int32_t stream_id, uint32_t error_code) override;
  ssize_t ReadData(int32_t stream_id, uint8_t* buf, size_t size, uint32_t* flags) override;
  void OnIoError() override { Shutdown(); }
  std::shared_ptr<void> KeepAlive() override;

 private:
  enum class State { kNew, kConnecting, kOpen, kClosed };
  Http2UpstreamStream* Find(int32_t id);
  asio::awaitable<void> Run(std::shared_ptr<Http2Upstream> self);
  // Fails every stream, closes the socket, leaves the host's pool (once).
  void Shutdown();

  Worker& worker_;
  std::shared_ptr<WorkerCluster> cluster_;
  PooledHost& host_;
  const router::UpstreamProtocol protocol_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_stream_;
  State state_ = State::kNew;
  bool goaway_ = false;
  std::string connect_error_;
  // Every request waiting for this connection to open waits on it (an AsyncEvent wakes one
  // waiter only: the others slept on after the first took the wake-up); cancel wakes all.
  asio::steady_timer connected_;
  std::unordered_map<int32_t, Http2UpstreamStream*> streams_;
};

// One request on an Http2Upstream.
class Http2UpstreamStream final : public UpstreamStream {
 public:
  // Request body bytes waiting for the upstream's window before SendData waits.
  static constexpr size_t kRequestBuffer = 64 * 1024;

  explicit Http2UpstreamStream(std::shared_ptr<Http2Upstream> conn);
  ~Http2UpstreamStream() override;

  asio::awaitable<bool> SendHead(const RequestHead& head, bool end_stream) override;
  asio::awaitable<bool> SendData(std::string_view data, bool end_stream) override;
  asio::awaitable<bool> SendTrailers(const Fields& trailers) override;
  asio::awaitable<Event> Read(std::string& data) override;
  const ResponseHead& response() const override { return response_; }
  bool ended_with_head() const override { return ended_with_head_; }
  const Fields& trailers() const override { return trailers_; }
  void Cancel() override;
  void Finish() override;

 private:
  friend class Http2Upstream;
  void Detach();  // leaves the connection's table

  std::shared_ptr<Http2Upstream> conn_;
  int32_t id_ = -1;
  // Request body.
  std::string out_;
  size_t out_pos_ = 0;
  bool out_end_ = false;
  Fields request_trailers_;
  bool trailers_pending_ = false;
  bool deferred_ = false;
  AsyncEvent writable_;
  // Response.
  ResponseHead response_;
  int pending_status_ = 0;  // :status of the HEADERS being received
  bool head_ready_ = false;
  bool head_reported_ = false;
  bool ended_with_head_ = false;
  std::string in_;  // data not yet read
  Fields trailers_;
  bool trailers_ready_ = false;
  bool trailers_reported_ = false;
  bool ended_ = false;   // END_STREAM received
  bool failed_ = false;  // reset, cancelled, or the connection ended first
  AsyncEvent readable_;
};

}  // namespace berth::gateway::server
