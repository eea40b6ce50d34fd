#include "gateway/server/http2_upstream.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <charconv>
#include <cstring>

#include "core/log.h"
#include "gateway/server/cluster_manager.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

using asio::ip::tcp;

// ---- Http2Upstream

Http2Upstream::Http2Upstream(Worker& worker, std::shared_ptr<WorkerCluster> cluster,
                             PooledHost& host, router::UpstreamProtocol protocol)
    : Http2Session(Role::kClient, worker.options().http2, worker.clock()),
      worker_(worker),
      cluster_(std::move(cluster)),
      host_(host),
      protocol_(protocol),
      socket_(worker.io()),
      connected_(worker.io().get_executor(), asio::steady_timer::time_point::max()) {}

Http2Upstream::~Http2Upstream() = default;

asio::any_io_executor Http2Upstream::worker_executor() { return worker_.io().get_executor(); }

std::shared_ptr<void> Http2Upstream::KeepAlive() {
  if (state_ == State::kClosed) return nullptr;
  return weak_from_this().lock();
}

asio::awaitable<bool> Http2Upstream::Connect(const std::function<bool()>& cancelled) {
  state_ = State::kConnecting;
  auto self = shared_from_this();
  auto fail = [this](std::string why) {
    connect_error_ = std::move(why);
    Shutdown();
    return false;
  };
  asio::error_code ec;
  asio::steady_timer timer(worker_.io());
  timer.expires_after(cluster_->config().connect_timeout);
  timer.async_wait([this, self](const asio::error_code& e) {
    if (!e && state_ == State::kConnecting) {
      asio::error_code ignored;
      socket_.close(ignored);
    }
  });
  co_await socket_.async_connect(host_.endpoint(), asio::redirect_error(asio::use_awaitable, ec));
  if (ec || cancelled()) {
    timer.cancel();
    co_return fail(ec ? "connect: " + ec.message() : "cancelled");
  }
  socket_.set_option(tcp::no_delay(true), ec);
  if (tls()) {
    asio::ssl::context* ctx = cluster_->UpstreamTlsContext();
    if (ctx == nullptr) {
      timer.cancel();
      co_return fail("tls: " + cluster_->tls_error());
    }
    tls_stream_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *ctx);
    const auto& cfg = cluster_->config().tls;
    const std::string name =
        cfg.server_name.empty() ? host_.endpoint().address().to_string() : cfg.server_name;
    SSL* ssl = tls_stream_->native_handle();
    asio::error_code ignored;
    auto ip = asio::ip::make_address(name, ignored);
    if (ignored) {
      SSL_set_tlsext_host_name(ssl, name.c_str());
      SSL_set1_host(ssl, name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    }
    co_await tls_stream_->async_handshake(asio::ssl::stream_base::client,
                                          asio::redirect_error(asio::use_awaitable, ec));
    if (ec || cancelled()) {
      timer.cancel();
      co_return fail(ec ? "tls handshake: " + ec.message() : "cancelled");
    }
    const unsigned char* alpn = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &len);
    if (std::string_view(reinterpret_cast<const char*>(alpn), len) != "h2") {
      timer.cancel();
      co_return fail("the upstream did not agree to HTTP/2 (ALPN)");
    }
  }
  timer.cancel();
  SetTransport(&socket_, tls_stream_.get(), worker_.io().get_executor());
  if (!Start()) co_return fail(error());
  state_ = State::kOpen;
  Flush();
  connected_.cancel();
  asio::co_spawn(worker_.io(), Run(self), asio::detached);
  co_return state_ == State::kOpen;
}

asio::awaitable<void> Http2Upstream::WaitConnected() {
  while (state_ == State::kConnecting) {
    asio::error_code ec;
    co_await connected_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

bool Http2Upstream::Available() const {
  if (state_ != State::kOpen || goaway_ || io_closed()) return false;
  auto* s = const_cast<Http2Upstream*>(this)->session();
  if (nghttp2_session_check_request_allowed(s) == 0) return false;
  const uint32_t max =
      nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < max;
}

std::unique_ptr<Http2UpstreamStream> Http2Upstream::NewStream() {
  return std::make_unique<Http2UpstreamStream>(shared_from_this());
}

asio::awaitable<void> Http2Upstream::Run(std::shared_ptr<Http2Upstream> self) {
  std::unique_ptr<char[]> buffer = worker_.TakeBuffer();
  while (state_ == State::kOpen) {
    asio::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    const size_t n = tls_stream_ ? co_await tls_stream_->async_read_some(
                                       asio::buffer(buffer.get(), kIoBufferSize), token)
                                 : co_await socket_.async_read_some(
                                       asio::buffer(buffer.get(), kIoBufferSize), token);
    if (ec || n == 0 || state_ != State::kOpen) break;
    if (!Receive(reinterpret_cast<const uint8_t*>(buffer.get()), n)) {
      log::Debug("gateway", "http2 upstream {}: {}", host_.address(), error());
      Flush();
      break;
    }
    Flush();
    if (goaway_ && streams_.empty()) break;
  }
  worker_.GiveBuffer(std::move(buffer));
  co_await WaitWritten();
  Shutdown();
}

void Http2Upstream::Retire() {
  goaway_ = true;
  if (streams_.empty()) Close();
}

void Http2Upstream::Close() {
  if (state_ == State::kClosed) return;
  nghttp2_session_terminate_session(session(), NGHTTP2_NO_ERROR);
  Flush();
  Shutdown();
}

void Http2Upstream::Shutdown() {
  if (state_ == State::kClosed) return;
  const bool counted = state_ != State::kNew;
  state_ = State::kClosed;
  CloseIo();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) {
    s->failed_ = true;
    s->id_ = -1;
    s->readable_.Notify();
    s->writable_.Notify();
  }
  asio::error_code ec;
  socket_.close(ec);
  connected_.cancel();
  std::erase_if(host_.h2,
                [this](const std::shared_ptr<Http2Upstream>& c) { return c.get() == this; });
  if (counted) cluster_->ConnectionClosed();
}

Http2UpstreamStream* Http2Upstream::Find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

int Http2Upstream::OnBeginHeaders(const nghttp2_frame& frame) {
  if (Http2UpstreamStream* s = Find(frame.hd.stream_id)) s->pending_status_ = 0;
  return 0;
}

int Http2Upstream::OnHeader(const nghttp2_frame& frame, std::string_view name,
                            std::string_view value) {
  Http2UpstreamStream* s = Find(frame.hd.stream_id);
  if (s == nullptr) return 0;
  if (s->head_ready_) {
    s->trailers_.push_back({std::string(name), std::string(value)});
    return 0;
  }
  if (name == ":status") {
    std::from_chars(value.data(), value.data() + value.size(), s->pending_status_);
    return 0;
  }
  if (!name.empty() && name[0] == ':') return 0;
  s->response_.fields.push_back({std::string(name), std::string(value)});
  return 0;
}

int Http2Upstream::OnFrameRecv(const nghttp2_frame& frame) {
  if (frame.hd.type == NGHTTP2_GOAWAY) {
    goaway_ = true;
    return 0;
  }
  Http2UpstreamStream* s = Find(frame.hd.stream_id);
  if (s == nullptr) return 0;
  const bool end = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame.hd.type == NGHTTP2_HEADERS) {
    if (!s->head_ready_) {
      if (s->pending_status_ >= 100 && s->pending_status_ < 200) {
        s->response_.fields.clear();  // an interim answer: the final one follows
        return 0;
      }
      s->response_.status = s->pending_status_;
      s->head_ready_ = true;
      s->ended_with_head_ = end;
    } else {
      s->trailers_ready_ = true;
    }
  }
  if (end) s->ended_ = true;
  if (frame.hd.type == NGHTTP2_HEADERS || end) s->readable_.Notify();
  return 0;
}

int Http2Upstream::OnDataChunk(int32_t stream_id, std::string_view data) {
  Http2UpstreamStream* s = Find(stream_id);
  if (s == nullptr) {
    Consume(stream_id, data.size());
    return 0;
  }
  s->in_.append(data);
  s->readable_.Notify();
  return 0;
}

int Http2Upstream::OnStreamClose(int32_t stream_id, uint32_t error_code) {
  Http2UpstreamStream* s = Find(stream_id);
  if (s == nullptr) return 0;
  if (!s->ended_ || error_code != NGHTTP2_NO_ERROR) s->failed_ = true;
  streams_.erase(stream_id);
  s->id_ = -1;
  s->readable_.Notify();
  s->writable_.Notify();
  return 0;
}

ssize_t Http2Upstream::ReadData(int32_t stream_id, uint8_t* buf, size_t size, uint32_t* flags) {
  Http2UpstreamStream* s = Find(stream_id);
  if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const size_t n = std::min(size, s->out_.size() - s->out_pos_);
  if (n > 0) {
    std::memcpy(buf, s->out_.data() + s->out_pos_, n);
    s->out_pos_ += n;
    if (s->out_pos_ == s->out_.size()) {
      s->out_.clear();
      s->out_pos_ = 0;
    }
    if (s->out_.size() - s->out_pos_ <= Http2UpstreamStream::kRequestBuffer) s->writable_.Notify();
  }
  if (s->out_pos_ == s->out_.size() && s->out_end_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->trailers_pending_) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nva;
      for (const auto& f : s->request_trailers_) nva.push_back(Nv(f.name, f.value));
      nghttp2_submit_trailer(session(), stream_id, nva.data(), nva.size());
      s->trailers_pending_ = false;
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    s->deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

// ---- Http2UpstreamStream

Http2UpstreamStream::Http2UpstreamStream(std::shared_ptr<Http2Upstream> conn)
    : conn_(std::move(conn)),
      writable_(conn_->worker_executor()),
      readable_(conn_->worker_executor()) {}

Http2UpstreamStream::~Http2UpstreamStream() { Detach(); }

void Http2UpstreamStream::Detach() {
  if (id_ > 0) {
    conn_->Unregister(id_);
    id_ = -1;
  }
}

asio::awaitable<bool> Http2UpstreamStream::SendHead(const RequestHead& head, bool end_stream) {
  if (failed_) co_return false;
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.fields.size() + 6);
  nva.push_back(Nv(":method", head.method));
  nva.push_back(Nv(":scheme", conn_->tls() ? "https" : "http"));
  nva.push_back(Nv(":authority", head.authority));
  nva.push_back(Nv(":path", head.path));
  if (!head.protocol.empty()) nva.push_back(Nv(":protocol", head.protocol));
  std::string length;
  if (head.content_length) {
    length = std::to_string(*head.content_length);
    nva.push_back(Nv("content-length", length));
  }
  for (const auto& f : head.fields) {
    if (f.name == "host" || f.name == "content-length" || IsConnectionSpecific(f.name, f.value)) {
      continue;
    }
    nva.push_back(Nv(f.name, f.value));
  }
  out_end_ = end_stream;
  int32_t id;
  if (end_stream) {
    id = nghttp2_submit_request(conn_->session(), nullptr, nva.data(), nva.size(), nullptr, this);
  } else {
    nghttp2_data_provider provider = conn_->DataProviderFor();
    id = nghttp2_submit_request(conn_->session(), nullptr, nva.data(), nva.size(), &provider, this);
  }
  if (id < 0) {
    failed_ = true;
    co_return false;
  }
  id_ = id;
  conn_->Register(id, this);
  conn_->ScheduleFlush();
  co_return true;
}

asio::awaitable<bool> Http2UpstreamStream::SendData(std::string_view data, bool end_stream) {
  if (failed_ || id_ < 0) co_return false;
  out_.append(data);
  if (end_stream) out_end_ = true;
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(conn_->session(), id_);
  }
  conn_->ScheduleFlush();
  while (!failed_ && out_.size() - out_pos_ > kRequestBuffer) co_await writable_.Wait();
  co_return !failed_;
}

asio::awaitable<bool> Http2UpstreamStream::SendTrailers(const Fields& trailers) {
  if (failed_ || id_ < 0) co_return false;
  request_trailers_ = trailers;
  trailers_pending_ = true;
  out_end_ = true;
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(conn_->session(), id_);
  }
  conn_->ScheduleFlush();
  co_return true;
}

asio::awaitable<UpstreamStream::Event> Http2UpstreamStream::Read(std::string& data) {
  for (;;) {
    if (head_ready_ && !head_reported_) {
      head_reported_ = true;
      co_return Event::kHead;
    }
    if (head_reported_) {
      if (!in_.empty()) {
        data.append(in_);
        if (id_ > 0) {
          conn_->Consume(id_, in_.size());
          conn_->ScheduleFlush();
        }
        in_.clear();
        co_return Event::kData;
      }
      if (trailers_ready_ && !trailers_reported_) {
        trailers_reported_ = true;
        co_return Event::kTrailers;
      }
      if (ended_) co_return Event::kEnd;
    }
    if (failed_) co_return Event::kFailed;
    co_await readable_.Wait();
  }
}

void Http2UpstreamStream::Cancel() {
  if (id_ > 0 && !failed_) {
    nghttp2_submit_rst_stream(conn_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    conn_->ScheduleFlush();
  }
  failed_ = true;
  Detach();
  readable_.Notify();
  writable_.Notify();
}

void Http2UpstreamStream::Finish() {
  if (id_ > 0 && !ended_) {
    // The answer ended before the request: the stream is not needed any more.
    nghttp2_submit_rst_stream(conn_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    conn_->ScheduleFlush();
  }
  Detach();
}

}  // namespace berth::gateway::server
