#include "gateway/server/http2_session.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <algorithm>

#include "gateway/server/socket_io.h"

namespace berth::gateway::server {

namespace {

Http2Session* Self(void* user) { return static_cast<Http2Session*>(user); }

}  // namespace

// nghttp2's C callbacks, forwarded to the virtual hooks.
struct Http2SessionCallbacks {
  static int BeginHeaders(nghttp2_session*, const nghttp2_frame* f, void* u) {
    return Self(u)->OnBeginHeaders(*f);
  }
  static int Header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
                    const uint8_t* value, size_t valuelen, uint8_t, void* u) {
    return Self(u)->OnHeader(*f, {reinterpret_cast<const char*>(name), namelen},
                             {reinterpret_cast<const char*>(value), valuelen});
  }
  static int FrameRecv(nghttp2_session*, const nghttp2_frame* f, void* u) {
    auto* self = Self(u);
    if (f->hd.type == NGHTTP2_SETTINGS && (f->hd.flags & NGHTTP2_FLAG_ACK) == 0 &&
        !self->CountSettings()) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (f->hd.type == NGHTTP2_RST_STREAM && !self->CountReset()) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return self->OnFrameRecv(*f);
  }
  static int DataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                       size_t len, void* u) {
    return Self(u)->OnDataChunk(stream_id, {reinterpret_cast<const char*>(data), len});
  }
  static int StreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* u) {
    return Self(u)->OnStreamClose(stream_id, error_code);
  }
  static ssize_t Read(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                      uint32_t* flags, nghttp2_data_source*, void* u) {
    return Self(u)->ReadData(stream_id, buf, length, flags);
  }
};

Http2Session::Http2Session(Role role, const Http2Limits& limits, const Clock& clock)
    : limits_(limits), clock_(clock), role_(role) {
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Http2SessionCallbacks::BeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb, &Http2SessionCallbacks::Header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Http2SessionCallbacks::FrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Http2SessionCallbacks::DataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Http2SessionCallbacks::StreamClose);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, limits.max_outbound_ack);
  nghttp2_option_set_max_continuations(opt, limits.max_continuations);
  // A backstop on the wall clock at twice our own bucket (CountReset), which answers first.
  nghttp2_option_set_stream_reset_rate_limit(opt, 2 * limits.reset_burst, 2 * limits.reset_rate);
  nghttp2_option_set_no_closed_streams(opt, 1);
  // Our encoder's table (the decoder's is bounded by the SETTINGS_HEADER_TABLE_SIZE we
  // announce: nghttp2 refuses a peer's table size update beyond it).
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  if (role == Role::kServer) {
    nghttp2_session_server_new2(&session_, cb, this, opt);
  } else {
    nghttp2_session_client_new2(&session_, cb, this, opt);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
}

Http2Session::~Http2Session() { nghttp2_session_del(session_); }

bool Http2Session::Start() {
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, limits_.header_table_bytes},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},  // a client's only: servers do not send it
  };
  const size_t n = nghttp2_session_check_server_session(session_) ? 4 : 5;
  int rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, n);
  if (rv == 0 && limits_.connection_window > 65535) {
    rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<int32_t>(limits_.connection_window));
  }
  if (rv != 0) error_ = nghttp2_strerror(rv);
  return rv == 0;
}

bool Http2Session::Receive(const uint8_t* data, size_t size) {
  const ssize_t rv = nghttp2_session_mem_recv(session_, data, size);
  if (rv >= 0) return true;
  if (error_.empty()) error_ = nghttp2_strerror(static_cast<int>(rv));
  // Tell the peer why before the connection ends (nghttp2 queued a GOAWAY itself for the
  // protocol errors it survives; these it leaves to us).
  uint32_t code = NGHTTP2_PROTOCOL_ERROR;
  switch (rv) {
    case NGHTTP2_ERR_CALLBACK_FAILURE:  // our limits (SETTINGS, RST_STREAM rates)
    case NGHTTP2_ERR_FLOODED:
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      code = NGHTTP2_ENHANCE_YOUR_CALM;
      break;
    case NGHTTP2_ERR_HEADER_COMP:
      code = NGHTTP2_COMPRESSION_ERROR;
      break;
    default:
      break;
  }
  nghttp2_session_terminate_session(session_, code);
  return false;
}

bool Http2Session::TakeOutput(std::string& out) {
  for (;;) {
    const uint8_t* data;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      error_ = nghttp2_strerror(static_cast<int>(n));
      return false;
    }
    if (n == 0) return true;
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
}

bool Http2Session::WantsIo() const {
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

void Http2Session::Consume(int32_t stream_id, size_t size) {
  if (size > 0) nghttp2_session_consume(session_, stream_id, size);
}

nghttp2_data_provider Http2Session::DataProvider() {
  nghttp2_data_provider p;
  p.source.ptr = this;
  p.read_callback = &Http2SessionCallbacks::Read;
  return p;
}

bool Http2Session::CountSettings() {
  const auto now = clock_.Now();
  if (now - settings_window_start_ >= std::chrono::seconds(1)) {
    settings_window_start_ = now;
    settings_in_window_ = 0;
  }
  if (++settings_in_window_ <= limits_.max_settings_per_second) return true;
  error_ = "SETTINGS flood";
  return false;
}

bool Http2Session::CountReset() {
  if (role_ != Role::kServer) return true;  // an upstream's resets are its business
  // A token bucket on the injected clock: reset_burst tokens, reset_rate more a second.
  const auto now = clock_.Now();
  if (!reset_bucket_started_) {
    reset_bucket_started_ = true;
    resets_refilled_ = now;
    reset_tokens_ = limits_.reset_burst;
  }
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now - resets_refilled_).count();
  if (seconds > 0) {
    reset_tokens_ = std::min<uint64_t>(
        limits_.reset_burst, reset_tokens_ + static_cast<uint64_t>(seconds) * limits_.reset_rate);
    resets_refilled_ += std::chrono::seconds(seconds);
  }
  if (reset_tokens_ > 0) {
    --reset_tokens_;
    return true;
  }
  error_ = "RST_STREAM flood (rapid reset)";
  return false;
}

void Http2Session::SetTransport(asio::ip::tcp::socket* socket,
                                asio::ssl::stream<asio::ip::tcp::socket&>* tls,
                                const asio::any_io_executor& executor) {
  socket_ = socket;
  tls_ = tls;
  executor_ = executor;
  writer_done_.emplace(executor);
}

void Http2Session::ScheduleFlush() {
  if (flush_posted_ || io_closed_) return;
  auto keep = KeepAlive();
  if (!keep) return;
  flush_posted_ = true;
  asio::post(*executor_, [this, keep = std::move(keep)] {
    flush_posted_ = false;
    Flush();
  });
}

void Http2Session::Flush() {
  if (io_closed_) return;
  if (!TakeOutput(out_)) {
    OnIoError();
    return;
  }
  if (writing_) return;
  if (out_pos_ < out_.size() && tls_ == nullptr) {
    std::array<asio::const_buffer, 1> bufs{
        asio::buffer(out_.data() + out_pos_, out_.size() - out_pos_)};
    const size_t before = asio::buffer_size(bufs);
    asio::error_code ec;
    SendNow(*socket_, bufs, ec);
    if (ec) {
      OnIoError();
      return;
    }
    out_pos_ += before - asio::buffer_size(bufs);
  }
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
    OnFlushed();
    return;
  }
  auto keep = KeepAlive();
  if (!keep) return;
  writing_ = true;
  asio::co_spawn(*executor_, Writer(std::move(keep)), asio::detached);
}

asio::awaitable<void> Http2Session::Writer(std::shared_ptr<void> keep) {
  while (!io_closed_ && out_pos_ < out_.size()) {
    writing_buf_.assign(out_, out_pos_);
    out_.clear();
    out_pos_ = 0;
    asio::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    if (tls_ != nullptr) {
      co_await asio::async_write(*tls_, asio::buffer(writing_buf_), token);
    } else {
      co_await asio::async_write(*socket_, asio::buffer(writing_buf_), token);
    }
    writing_buf_.clear();
    if (ec || !TakeOutput(out_)) {
      writing_ = false;
      writer_done_->Notify();
      OnIoError();
      co_return;
    }
  }
  writing_ = false;
  writer_done_->Notify();
  if (!io_closed_) OnFlushed();
  (void)keep;
}

asio::awaitable<void> Http2Session::WaitWritten() {
  while (writing_) co_await writer_done_->Wait();
}

}  // namespace berth::gateway::server
