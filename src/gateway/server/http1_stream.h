// An HTTP/1.1 client's request as a DownstreamStream, for the requests whose upstream speaks
// HTTP/2 (the StreamProxy path): the head becomes a protocol-neutral RequestHead (names
// lower-cased, hop-by-hop fields dropped), the body is decoded by the request parser as it is
// read (100 Continue sent first when asked for), chunked trailers become request trailers;
// the answer is written as HTTP/1.1: its Content-Length kept, else chunked (so HTTP/2
// trailers, gRPC's included, reach an HTTP/1.1 client in the last chunk), else for an
// HTTP/1.0 client delimited by closing the connection.
// Thread-safety: the connection's worker thread.
#pragma once

#include <string>

#include "gateway/server/downstream.h"
#include "gateway/server/exchange.h"
#include "gateway/server/stream_proxy.h"

namespace berth::gateway::server {

class Http1Stream final : public DownstreamStream {
 public:
  // The request whose head `down`'s parser just read; `ex` was prepared for it.
  Http1Stream(Downstream& down, Exchange& ex);

  const RequestHead& request() const override { return request_; }
  asio::awaitable<Body> ReadBody(std::string& out) override;
  void InterruptRead() override { interrupted_ = true; }
  void BodyForwarded(size_t) override {}
  const Fields& request_trailers() const override { return trailers_; }
  asio::awaitable<bool> SendHead(ResponseHead head, bool end_stream) override;
  asio::awaitable<bool> SendData(std::string_view data, bool end_stream) override;
  asio::awaitable<bool> SendTrailers(Fields trailers) override;
  void Reset() override { down_.Close(); }
  bool gone() const override { return down_.closed(); }
  void OnGone(std::function<void()>) override {}

  // After the exchange: whether the connection may serve another request.
  bool keep_alive() const { return !close_ && response_done_ && request_done_; }

 private:
  asio::awaitable<bool> Write(std::string_view bytes);

  Downstream& down_;
  Exchange& ex_;
  RequestHead request_;
  Fields trailers_;
  std::string out_;
  bool request_done_ = false;
  bool interrupted_ = false;
  bool chunked_ = false;  // the answer goes chunked
  bool close_ = false;    // the connection closes after the answer
  bool no_body_ = false;  // HEAD, 204, 304
  bool response_done_ = false;
};

}  // namespace berth::gateway::server
