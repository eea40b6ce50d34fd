// An UpstreamStream on one HTTP/1.1 connection from a cluster's pool, for requests that did
// not arrive as HTTP/1.1 (HTTP/2 clients): the protocol-neutral request is written as an
// HTTP/1.1 head (Host from :authority) with a Content-Length when the client gave one, else a
// chunked body whose last chunk carries the request's trailers; the answer is parsed by the
// strict response parser and handed back as head, data, trailers (from a chunked body) and
// end. The connection returns to its host's pool when the exchange ended cleanly.
// Thread-safety: one worker thread.
#pragma once

#include <asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>

#include "core/http/parser.h"
#include "gateway/server/io_buffer.h"
#include "gateway/server/stream_proxy.h"

namespace berth::gateway::server {

class PooledHost;
class WorkerCluster;
class Worker;

class Http1Upstream final : public UpstreamStream {
 public:
  // `conn` is open (pooled or just connected) to `host` of `cluster`.
  Http1Upstream(Worker& worker, std::shared_ptr<WorkerCluster> cluster, PooledHost& host,
                asio::ip::tcp::socket conn);
  ~Http1Upstream() override;

  asio::awaitable<bool> SendHead(const RequestHead& head, bool end_stream) override;
  asio::awaitable<bool> SendData(std::string_view data, bool end_stream) override;
  asio::awaitable<bool> SendTrailers(const Fields& trailers) override;
  asio::awaitable<Event> Read(std::string& data) override;
  const ResponseHead& response() const override { return response_; }
  bool ended_with_head() const override { return ended_with_head_; }
  const Fields& trailers() const override { return trailers_; }
  bool bad_response() const override { return bad_; }
  void Cancel() override;
  void Finish() override;

 private:
  asio::awaitable<bool> Write(std::string_view bytes);
  // Parses what is buffered into the next event; nullopt: more bytes are needed.
  std::optional<Event> Parse(std::string& data);
  // The message ended: kTrailers when its chunked body had trailers (kEnd comes next), else
  // kEnd.
  Event Ended();

  Worker& worker_;
  std::shared_ptr<WorkerCluster> cluster_;
  PooledHost& host_;
  std::optional<asio::ip::tcp::socket> conn_;
  std::unique_ptr<http::Parser> parser_;
  IoBuffer in_;
  std::string out_;
  std::string method_;
  ResponseHead response_;
  Fields trailers_;
  bool chunked_ = false;       // the request body goes chunked
  bool request_done_ = false;  // the request was written whole
  bool interim_ = false;       // inside a 1xx answer
  bool head_seen_ = false;
  bool ended_with_head_ = false;
  bool complete_ = false;      // the answer ended (kEnd reported or due)
  bool trailers_due_ = false;  // kTrailers reported, kEnd next
  bool reusable_ = true;
  bool bad_ = false;
  bool failed_ = false;
};

}  // namespace berth::gateway::server
