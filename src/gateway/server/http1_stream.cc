#include "gateway/server/http1_stream.h"

#include <fmt/format.h>

#include "gateway/server/http1_heads.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

Http1Stream::Http1Stream(Downstream& down, Exchange& ex) : down_(down), ex_(ex) {
  const http::MessageHead& h = down.parser().head();
  request_.method = h.method;
  request_.scheme = down.tls() ? "https" : "http";
  if (auto host = h.Get("host")) request_.authority = *host;
  request_.path = ex.target;
  if (h.framing == http::BodyFraming::kContentLength) request_.content_length = h.content_length;
  std::string_view connection;
  if (auto c = h.Get("connection")) connection = *c;
  for (const auto& f : h.headers) {
    if (IsHopByHop(f.name) || IEquals(f.name, "host") || IEquals(f.name, "expect") ||
        IEquals(f.name, "content-length")) {
      continue;
    }
    if (!connection.empty() && NamedInConnection(connection, f.name)) continue;
    Field field;
    AppendLower(field.name, f.name);
    field.value = f.value;
    request_.fields.push_back(std::move(field));
  }
  // HTTP/2 wants te only as "trailers"; gRPC clients over HTTP/1.1 do not exist, but an
  // HTTP/1.1 client's answer can still carry trailers in chunks.
  request_.fields.push_back({"te", "trailers"});
  request_done_ = h.framing == http::BodyFraming::kNone;
  close_ = !h.keep_alive;
}

asio::awaitable<bool> Http1Stream::Write(std::string_view bytes) {
  std::array<asio::const_buffer, 1> bufs{asio::buffer(bytes.data(), bytes.size())};
  asio::error_code ec;
  if (!down_.WriteNow(bufs, ec) && !ec) co_await down_.Write(bufs, ec);
  if (ec) down_.Close();
  co_return !ec;
}

asio::awaitable<DownstreamStream::Body> Http1Stream::ReadBody(std::string& out) {
  if (request_done_) co_return Body::kEnd;
  const http::MessageHead& h = down_.parser().head();
  if (h.expect_continue && !ex_.continue_sent && h.version_minor >= 1) {
    ex_.continue_sent = true;
    if (!co_await Write("HTTP/1.1 100 Continue\r\n\r\n")) co_return Body::kGone;
  }
  IoBuffer& in = down_.in();
  for (;;) {
    const size_t before = out.size();
    while (in.data && !in.empty()) {
      auto step = down_.parser().Feed(in.view());
      if (!step) {
        down_.Close();  // a malformed body: nothing more can be read or answered
        co_return Body::kGone;
      }
      if (step->event == http::ParseEvent::kBody) out.append(step->body);
      in.Consume(step->consumed);
      if (step->event == http::ParseEvent::kComplete) {
        request_done_ = true;
        ex_.request_complete = true;
        for (const auto& t : down_.parser().trailers()) {
          Field field;
          AppendLower(field.name, t.name);
          field.value = t.value;
          trailers_.push_back(std::move(field));
        }
        co_return out.size() > before ? Body::kData : Body::kEnd;
      }
      if (step->event == http::ParseEvent::kNeedMore) break;
    }
    if (out.size() > before) co_return Body::kData;
    if (interrupted_) {
      interrupted_ = false;
      co_return Body::kInterrupted;
    }
    if (down_.closed()) co_return Body::kGone;
    down_.EnsureBuffer(in);
    asio::error_code ec;
    const asio::mutable_buffer space = in.ReadInto();
    const size_t n = co_await down_.Read(space, ec);
    if (ec || n == 0) co_return Body::kGone;
    if (n < space.size()) down_.Drained();
    in.end += n;
  }
}

asio::awaitable<bool> Http1Stream::SendHead(ResponseHead head, bool end_stream) {
  const http::MessageHead& req = down_.parser().head();
  no_body_ = req.method == "HEAD" || head.status == 204 || head.status == 304;
  std::string& out = down_.Out();
  AppendStatusLine(out, head.status, http::ReasonPhrase(head.status));
  bool has_length = false;
  for (const auto& f : head.fields) {
    if (f.name == "content-length") has_length = true;
    AppendField(out, f.name, f.value);
  }
  if (end_stream && !has_length && !no_body_) {
    AppendField(out, "Content-Length", "0");
  } else if (!end_stream && !has_length && !no_body_) {
    if (req.version_minor >= 1) {
      chunked_ = true;
      AppendField(out, "Transfer-Encoding", "chunked");
    } else {
      close_ = true;  // HTTP/1.0: the body ends with the connection
    }
  }
  if (down_.worker().draining()) close_ = true;
  if (close_) {
    AppendField(out, "Connection", "close");
  } else if (req.version_minor == 0) {
    AppendField(out, "Connection", "keep-alive");
  }
  out += "\r\n";
  response_done_ = end_stream;
  co_return co_await Write(out);
}

asio::awaitable<bool> Http1Stream::SendData(std::string_view data, bool end_stream) {
  if (no_body_) {
    response_done_ = response_done_ || end_stream;
    co_return true;
  }
  out_.clear();
  if (chunked_) {
    if (!data.empty()) {
      out_ += fmt::format("{:x}\r\n", data.size());
      out_ += data;
      out_ += "\r\n";
    }
    if (end_stream) out_ += "0\r\n\r\n";
  } else {
    out_ += data;
  }
  if (end_stream) response_done_ = true;
  co_return out_.empty() || co_await Write(out_);
}

asio::awaitable<bool> Http1Stream::SendTrailers(Fields trailers) {
  response_done_ = true;
  if (!chunked_ || no_body_) co_return true;  // no room for trailers
  out_ = "0\r\n";
  for (const auto& f : trailers) AppendField(out_, f.name, f.value);
  out_ += "\r\n";
  co_return co_await Write(out_);
}

}  // namespace berth::gateway::server
