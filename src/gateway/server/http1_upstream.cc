#include "gateway/server/http1_upstream.h"

#include <fmt/format.h>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "gateway/server/cluster_manager.h"
#include "gateway/server/http1_heads.h"
#include "gateway/server/ready_wait.h"
#include "gateway/server/socket_io.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

using asio::ip::tcp;

Http1Upstream::Http1Upstream(Worker& worker, std::shared_ptr<WorkerCluster> cluster,
                             PooledHost& host, tcp::socket conn)
    : worker_(worker),
      cluster_(std::move(cluster)),
      host_(host),
      conn_(std::move(conn)),
      parser_(worker.TakeParser(http::MessageKind::kResponse)) {}

Http1Upstream::~Http1Upstream() {
  if (conn_) Cancel();
  worker_.GiveParser(http::MessageKind::kResponse, std::move(parser_));
  if (in_.data) worker_.GiveBuffer(std::move(in_.data));
}

asio::awaitable<bool> Http1Upstream::Write(std::string_view bytes) {
  if (!conn_ || failed_) co_return false;
  std::array<asio::const_buffer, 1> bufs{asio::buffer(bytes.data(), bytes.size())};
  asio::error_code ec;
  if (!SendNow(*conn_, bufs, ec) && !ec) {
    co_await asio::async_write(*conn_, bufs, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) failed_ = true;
  co_return !ec;
}

asio::awaitable<bool> Http1Upstream::SendHead(const RequestHead& head, bool end_stream) {
  method_ = head.method;
  out_.clear();
  out_ += head.method;
  out_ += ' ';
  out_ += head.path;
  out_ += " HTTP/1.1\r\n";
  AppendField(out_, "Host", head.authority);
  for (const auto& f : head.fields) {
    if (f.name == "host" || f.name == "content-length" || IsHopByHop(f.name)) continue;
    AppendField(out_, f.name, f.value);
  }
  if (end_stream) {
    if (head.method != "GET" && head.method != "HEAD") AppendField(out_, "Content-Length", "0");
  } else if (head.content_length) {
    AppendField(out_, "Content-Length", fmt::format_int(*head.content_length).c_str());
  } else {
    chunked_ = true;
    AppendField(out_, "Transfer-Encoding", "chunked");
  }
  out_ += "\r\n";
  request_done_ = end_stream;
  parser_->Reset();
  parser_->SetRequestMethod(method_);
  co_return co_await Write(out_);
}

asio::awaitable<bool> Http1Upstream::SendData(std::string_view data, bool end_stream) {
  if (!chunked_) {
    request_done_ = end_stream;
    co_return data.empty() || co_await Write(data);
  }
  out_.clear();
  if (!data.empty()) {
    out_ += fmt::format("{:x}\r\n", data.size());
    out_ += data;
    out_ += "\r\n";
  }
  if (end_stream) {
    out_ += "0\r\n\r\n";
    request_done_ = true;
  }
  co_return out_.empty() || co_await Write(out_);
}

asio::awaitable<bool> Http1Upstream::SendTrailers(const Fields& trailers) {
  request_done_ = true;
  if (!chunked_) co_return true;  // a Content-Length body has no room for trailers
  out_ = "0\r\n";
  for (const auto& f : trailers) AppendField(out_, f.name, f.value);
  out_ += "\r\n";
  co_return co_await Write(out_);
}

std::optional<UpstreamStream::Event> Http1Upstream::Parse(std::string& data) {
  const size_t data_before = data.size();
  for (;;) {
    auto step = parser_->Feed(in_.data ? in_.view() : std::string_view());
    if (!step) {
      bad_ = failed_ = true;
      return Event::kFailed;
    }
    if (step->event == http::ParseEvent::kBody) data.append(step->body);
    in_.Consume(step->consumed);
    switch (step->event) {
      case http::ParseEvent::kHead: {
        const auto& h = parser_->head();
        if (h.status >= 100 && h.status < 200) {
          interim_ = true;  // 100 / 103: dropped, the final answer follows
          continue;
        }
        head_seen_ = true;
        reusable_ = h.keep_alive;
        ended_with_head_ =
            h.framing == http::BodyFraming::kNone ||
            (h.framing == http::BodyFraming::kContentLength && h.content_length == 0);
        response_.status = h.status;
        response_.fields.clear();
        std::string_view connection;
        if (auto c = h.Get("connection")) connection = *c;
        for (const auto& f : h.headers) {
          if (IsConnectionSpecific(f.name, f.value)) continue;
          if (!connection.empty() && NamedInConnection(connection, f.name)) continue;
          Field field;
          AppendLower(field.name, f.name);
          field.value = f.value;
          response_.fields.push_back(std::move(field));
        }
        return Event::kHead;
      }
      case http::ParseEvent::kBody:
        continue;  // gather every piece buffered
      case http::ParseEvent::kComplete:
        if (interim_) {
          interim_ = false;
          continue;
        }
        complete_ = true;
        if (data.size() > data_before) return Event::kData;  // kEnd on the next call
        return Ended();
      case http::ParseEvent::kNeedMore:
        if (data.size() > data_before) return Event::kData;
        return std::nullopt;
    }
  }
}

UpstreamStream::Event Http1Upstream::Ended() {
  trailers_.clear();
  for (const auto& f : parser_->trailers()) {
    Field field;
    AppendLower(field.name, f.name);
    field.value = f.value;
    trailers_.push_back(std::move(field));
  }
  if (trailers_.empty()) return Event::kEnd;
  trailers_due_ = true;
  return Event::kTrailers;
}

asio::awaitable<UpstreamStream::Event> Http1Upstream::Read(std::string& data) {
  if (trailers_due_) {
    trailers_due_ = false;
    co_return Event::kEnd;
  }
  if (complete_) {
    // kData came with the end: the trailers (if any), then the end.
    complete_ = false;
    co_return Ended();
  }
  if (failed_ || !conn_) co_return Event::kFailed;
  if (!in_.data) in_.data = worker_.TakeBuffer();
  for (;;) {
    if (auto e = Parse(data)) {
      if (*e == Event::kEnd || *e == Event::kTrailers) complete_ = false;
      co_return *e;
    }
    asio::error_code ec;
    const asio::mutable_buffer space = in_.ReadInto();
    const size_t n =
        co_await conn_->async_read_some(space, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && n > 0 && n < space.size()) NoteReadDrained(*conn_);
    if (ec || n == 0) {
      if (ec == asio::error::eof && head_seen_) {
        auto fin = parser_->Finish();
        if (fin && fin->event == http::ParseEvent::kComplete) {
          reusable_ = false;
          co_return Event::kEnd;
        }
      }
      failed_ = true;
      co_return Event::kFailed;
    }
    in_.end += n;
  }
}

void Http1Upstream::Cancel() {
  failed_ = true;
  if (!conn_) return;
  asio::error_code ec;
  conn_->close(ec);
  cluster_->Release(host_, std::move(*conn_), false);
  conn_.reset();
}

void Http1Upstream::Finish() {
  if (!conn_) return;
  const bool whole = !failed_ && request_done_ && reusable_ && in_.empty() && parser_->idle();
  cluster_->Release(host_, std::move(*conn_), whole);
  conn_.reset();
}

}  // namespace berth::gateway::server
