#include "gateway/server/http2_connection.h"

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>

#include <charconv>
#include <cstring>

#include "core/log.h"
#include "gateway/server/routing.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

using asio::ip::tcp;

// ---- Http2Stream

Http2Stream::Http2Stream(Http2Connection& conn, int32_t id)
    : conn_(conn), id_(id), request_event_(conn.executor()), response_event_(conn.executor()) {}

Http2Stream::~Http2Stream() = default;

asio::awaitable<DownstreamStream::Body> Http2Stream::ReadBody(std::string& out) {
  for (;;) {
    if (!body_.empty()) {
      out.append(body_);
      body_.clear();
      co_return Body::kData;
    }
    if (body_end_) co_return Body::kEnd;
    if (closed_) co_return Body::kGone;
    if (interrupted_) {
      interrupted_ = false;
      co_return Body::kInterrupted;
    }
    co_await request_event_.Wait();
  }
}

void Http2Stream::InterruptRead() {
  interrupted_ = true;
  request_event_.Notify();
}

void Http2Stream::BodyForwarded(size_t n) {
  if (closed_ || n == 0) return;
  conn_.Consume(id_, n);
  conn_.ScheduleFlush();
}

asio::awaitable<bool> Http2Stream::SendHead(ResponseHead head, bool end_stream) {
  if (closed_) co_return false;
  char status[4];
  std::to_chars(status, status + 3, head.status);
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.fields.size() + 1);
  nva.push_back(Nv(":status", std::string_view(status, 3)));
  for (const auto& f : head.fields) {
    if (IsConnectionSpecific(f.name, f.value)) continue;
    nva.push_back(Nv(f.name, f.value));
  }
  int rv;
  if (end_stream) {
    response_ended_ = true;
    rv = nghttp2_submit_response(conn_.session(), id_, nva.data(), nva.size(), nullptr);
  } else {
    nghttp2_data_provider provider = conn_.DataProviderFor();
    rv = nghttp2_submit_response(conn_.session(), id_, nva.data(), nva.size(), &provider);
  }
  conn_.ScheduleFlush();
  co_return rv == 0;
}

asio::awaitable<bool> Http2Stream::SendData(std::string_view data, bool end_stream) {
  if (closed_) co_return false;
  out_.append(data);
  if (end_stream) {
    out_end_ = true;
    response_ended_ = true;
  }
  ResponseQueued();
  while (!closed_ && out_.size() - out_pos_ > kResponseBuffer) co_await response_event_.Wait();
  co_return !closed_;
}

asio::awaitable<bool> Http2Stream::SendTrailers(Fields trailers) {
  if (closed_) co_return false;
  response_trailers_ = std::move(trailers);
  trailers_pending_ = true;
  out_end_ = true;
  response_ended_ = true;
  ResponseQueued();
  co_return true;
}

void Http2Stream::ResponseQueued() {
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(conn_.session(), id_);
  }
  conn_.ScheduleFlush();
}

void Http2Stream::Reset() {
  if (closed_) return;
  nghttp2_submit_rst_stream(conn_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
  conn_.ScheduleFlush();
}

void Http2Stream::Closed() {
  if (closed_) return;
  closed_ = true;
  request_event_.Notify();
  response_event_.Notify();
  if (auto fn = std::move(on_gone_)) fn();
}

// ---- Http2Connection

Http2Connection::Http2Connection(Downstream& down, const Http2Limits& limits)
    : Http2Session(Role::kServer, limits, down.worker().clock()),
      down_(down),
      executor_(down.worker().io().get_executor()) {
  SetTransport(&down.socket(), down.tls(), executor_);
}

Http2Connection::~Http2Connection() = default;

Http2Stream* Http2Connection::Find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

int Http2Connection::OnBeginHeaders(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS || frame.headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (draining_ && frame.hd.stream_id > goaway_last_id_) {
    // Opened after our GOAWAY (in the same read): not processed, as the GOAWAY says.
    nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, frame.hd.stream_id,
                              NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  auto stream = std::make_shared<Http2Stream>(*this, frame.hd.stream_id);
  streams_.emplace(frame.hd.stream_id, std::move(stream));
  UpdateIdleDeadline();
  return 0;
}

int Http2Connection::OnHeader(const nghttp2_frame& frame, std::string_view name,
                              std::string_view value) {
  Http2Stream* s = Find(frame.hd.stream_id);
  if (s == nullptr || s->oversized_) return 0;
  // RFC 9113 6.5.2: a field's size is its name, its value and 32.
  s->header_bytes_ += name.size() + value.size() + 32;
  if (s->header_bytes_ > limits_.max_header_list_bytes) {
    s->oversized_ = true;
    return 0;
  }
  if (s->headers_done_) {
    s->trailers_.push_back({std::string(name), std::string(value)});
    return 0;
  }
  RequestHead& r = s->request_;
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") {
      r.method = value;
    } else if (name == ":scheme") {
      r.scheme = value;
    } else if (name == ":authority") {
      r.authority = value;
    } else if (name == ":path") {
      r.path = value;
    } else if (name == ":protocol") {
      r.protocol = value;
    }
    return 0;
  }
  if (name == "content-length") {
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec == std::errc() && p == value.data() + value.size()) r.content_length = v;
    return 0;
  }
  if (name == "host") {
    if (r.authority.empty()) r.authority = value;
    return 0;
  }
  if (name == "cookie") {
    // RFC 9113 8.2.3: cookie crumbs are joined again for HTTP/1.1.
    for (auto& f : r.fields) {
      if (f.name == "cookie") {
        f.value += "; ";
        f.value += value;
        return 0;
      }
    }
  }
  r.fields.push_back({std::string(name), std::string(value)});
  return 0;
}

void Http2Connection::OnRequestHead(Http2Stream& s, bool end_stream) {
  s.headers_done_ = true;
  s.has_body_ = !end_stream;
  if (end_stream) s.body_end_ = true;
  if (s.oversized_) {
    // Answered here, never routed (an HPACK bomb costs the decoding only).
    nghttp2_nv nva[] = {Nv(":status", "431"), Nv("content-length", "0")};
    nghttp2_submit_response(session(), s.id_, nva, 2, nullptr);
    s.response_ended_ = true;
    if (++oversized_headers_ >= kMaxOversizedHeaders) Goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    return;
  }
  starting_.push_back(streams_[s.id_]);
}

int Http2Connection::OnFrameRecv(const nghttp2_frame& frame) {
  Http2Stream* s = Find(frame.hd.stream_id);
  if (s == nullptr) return 0;
  const bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame.hd.type == NGHTTP2_HEADERS) {
    if (frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
      OnRequestHead(*s, end_stream);
    } else if (end_stream) {  // trailers
      s->body_end_ = true;
      s->request_event_.Notify();
    }
  } else if (frame.hd.type == NGHTTP2_DATA && end_stream) {
    s->body_end_ = true;
    s->request_event_.Notify();
  }
  return 0;
}

int Http2Connection::OnDataChunk(int32_t stream_id, std::string_view data) {
  Http2Stream* s = Find(stream_id);
  if (s == nullptr || s->oversized_) {
    // Nobody reads it: give the window back at once.
    Consume(stream_id, data.size());
    return 0;
  }
  s->body_.append(data);
  s->request_event_.Notify();
  return 0;
}

int Http2Connection::OnStreamClose(int32_t stream_id, uint32_t) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  std::shared_ptr<Http2Stream> s = std::move(it->second);
  streams_.erase(it);
  s->Closed();
  UpdateIdleDeadline();
  return 0;
}

ssize_t Http2Connection::ReadData(int32_t stream_id, uint8_t* buf, size_t size, uint32_t* flags) {
  Http2Stream* s = Find(stream_id);
  if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return ReadStreamData(*s, buf, size, flags);
}

ssize_t Http2Connection::ReadStreamData(Http2Stream& s, uint8_t* buf, size_t size,
                                        uint32_t* flags) {
  const size_t n = std::min(size, s.out_.size() - s.out_pos_);
  if (n > 0) {
    std::memcpy(buf, s.out_.data() + s.out_pos_, n);
    s.out_pos_ += n;
    if (s.out_pos_ == s.out_.size()) {
      s.out_.clear();
      s.out_pos_ = 0;
    }
    if (s.out_.size() - s.out_pos_ <= Http2Stream::kResponseBuffer) s.response_event_.Notify();
  }
  if (s.out_pos_ == s.out_.size() && s.out_end_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s.trailers_pending_) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nva;
      nva.reserve(s.response_trailers_.size());
      for (const auto& f : s.response_trailers_) nva.push_back(Nv(f.name, f.value));
      nghttp2_submit_trailer(session(), s.id_, nva.data(), nva.size());
      s.trailers_pending_ = false;
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    s.deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

void Http2Connection::StartStreams() {
  for (auto& s : starting_) {
    asio::co_spawn(executor_, ServeStream(std::move(s), owner_), asio::detached);
  }
  starting_.clear();
}

asio::awaitable<void> Http2Connection::ServeStream(std::shared_ptr<Http2Stream> stream,
                                                   std::shared_ptr<void> owner) {
  Worker& worker = down_.worker();
  worker.stats().downstream_requests.Inc();
  const RequestHead& r = stream->request();
  Exchange ex;
  ex.start = worker.clock().Now();
  ex.method = r.method;
  ex.has_body = stream->has_body_;
  SetHost(ex, r.authority);
  SetTarget(ex, r.path);
  SetRequestId(ex, FindField(r.fields, "x-request-id"), worker.random());
  const Fields& fields = r.fields;
  const bool routed = RouteExchange(
      worker, ex,
      [&fields](std::string_view n) -> std::optional<std::string_view> {
        for (const auto& f : fields) {
          if (IEquals(f.name, n)) return std::string_view(f.value);
        }
        return std::nullopt;
      },
      [&fields](std::vector<filters::HeaderRef>& refs) {
        refs.reserve(fields.size());
        for (const auto& f : fields) refs.push_back({f.name, f.value});
      },
      down_.client_ip());
  if (routed) {
    StreamProxy proxy(worker, ex, *stream, down_.client_ip(), down_.tls() != nullptr);
    co_await proxy.Run();
  } else {
    ex.status = ex.reply_status;
    co_await StreamProxy::LocalReply(*stream, ex.reply_status, ex.reply_body, ex.reply_headers,
                                     &ex.add_response_headers, ex.request_id);
  }
  if (!stream->response_ended() && !stream->gone()) stream->Reset();
  RecordExchange(worker, ex, down_.client_ip());
  (void)owner;
}

void Http2Connection::OnIoError() {
  log::Debug("gateway", "http2 connection from {}: {}", down_.client_ip(), error());
  Shutdown();
}

void Http2Connection::OnFlushed() {
  if (draining_ && streams_.empty()) Shutdown();
}

void Http2Connection::UpdateIdleDeadline() {
  if (shut_) return;
  if (streams_.empty()) {
    down_.SetPhase(Downstream::Phase::kIdle, down_.worker().options().idle_timeout);
  } else {
    down_.SetPhase(Downstream::Phase::kNone, std::chrono::milliseconds(0));
  }
}

void Http2Connection::Goaway(uint32_t error_code) {
  if (draining_) return;
  draining_ = true;
  goaway_last_id_ = nghttp2_session_get_last_proc_stream_id(session());
  nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE, goaway_last_id_, error_code, nullptr, 0);
}

void Http2Connection::Drain() {
  if (draining_ || shut_) return;
  Goaway(NGHTTP2_NO_ERROR);
  Flush();
}

void Http2Connection::OnIdleTimeout() {
  if (!streams_.empty()) return;
  Drain();
}

void Http2Connection::Shutdown() {
  if (shut_) return;
  shut_ = true;
  CloseIo();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) s->Closed();
  down_.Close();
}

asio::awaitable<void> Http2Connection::Serve(std::shared_ptr<void> owner) {
  owner_ = owner;
  if (!Start()) {
    owner_.reset();
    co_return;
  }
  IoBuffer& in = down_.in();
  bool ok = true;
  if (in.data && !in.empty()) {  // the preface (and more) read before the switch
    ok = Receive(reinterpret_cast<const uint8_t*>(in.data.get() + in.begin), in.size());
    in.Consume(in.size());
  }
  UpdateIdleDeadline();
  while (ok && !shut_) {
    StartStreams();
    Flush();
    if (shut_ || !WantsIo()) break;
    down_.EnsureBuffer(in);
    asio::error_code ec;
    const asio::mutable_buffer space = in.ReadInto();
    const size_t n = co_await down_.Read(space, ec);
    if (ec || n == 0) break;
    if (n < space.size()) down_.Drained();
    ok = Receive(reinterpret_cast<const uint8_t*>(space.data()), n);
  }
  if (!ok) {
    log::Debug("gateway", "http2 connection from {}: {}", down_.client_ip(), error());
    Flush();  // the GOAWAY
  }
  if (!shut_) co_await WaitWritten();
  Shutdown();
  owner_.reset();  // the streams still running hold their own
}

}  // namespace berth::gateway::server
