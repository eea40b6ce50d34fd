// One HTTP/2 connection's framing, HPACK and flow control, done by nghttp2, for either side:
// the server side of a client's connection (Http2Connection) and the client side of a
// connection to an upstream (Http2Upstream). Bytes in go to Receive; the bytes nghttp2 wants
// out are appended by TakeOutput to the owner's buffer; nghttp2's callbacks arrive as the
// virtual On* hooks. The owner does the socket I/O.
//
// Limits (Http2Limits) are the protections HTTP/2's known attacks call for, set through
// nghttp2's options where it has them: a token bucket for the peer's RST_STREAM frames (rapid
// reset, CVE-2023-44487), a cap on CONTINUATION frames per header block (CVE-2024-27316
// class), a cap on queued SETTINGS/PING acknowledgements (settings and ping floods), a
// bounded HPACK table and a cap on each decoded header list (HPACK bombs, checked by the
// owner in OnHeader), and our own count of SETTINGS frames per second.
// Receive windows are not refilled automatically: the owner calls Consume as it forwards
// bytes, so a peer can never have more in flight than the windows (back-pressure).
// Thread-safety: one worker thread.
#pragma once

#include <nghttp2/nghttp2.h>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "gateway/server/async_event.h"

namespace berth::gateway::server {

struct Http2Limits {
  uint32_t max_concurrent_streams = 128;      // SETTINGS_MAX_CONCURRENT_STREAMS we announce
  uint32_t stream_window = 1 << 20;           // SETTINGS_INITIAL_WINDOW_SIZE we announce
  uint32_t connection_window = 8 << 20;       // our connection-level receive window
  uint32_t max_header_list_bytes = 64 << 10;  // decoded name+value+32 per field: 431 beyond
  uint32_t header_table_bytes = 4096;         // HPACK dynamic table we allow the peer
  size_t max_continuations = 8;               // CONTINUATION frames after one HEADERS
  uint64_t reset_burst = 200;                 // the peer's RST_STREAMs: bucket size...
  uint64_t reset_rate = 33;                   // ...and refill per second; empty: GOAWAY
  size_t max_outbound_ack = 1000;             // unsent SETTINGS/PING ACKs before we give up
  uint32_t max_settings_per_second = 100;     // SETTINGS frames from the peer
};

class Http2Session {
 public:
  enum class Role { kServer, kClient };

  Http2Session(Role role, const Http2Limits& limits, const Clock& clock);
  virtual ~Http2Session();
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // Sends our SETTINGS (the connection preface for a client). Call once, first.
  bool Start();
  // Feeds received bytes; false when the connection cannot go on (protocol error, flood):
  // TakeOutput then holds what is left to send (a GOAWAY), then the owner closes.
  bool Receive(const uint8_t* data, size_t size);
  // Appends what nghttp2 wants to send to `out`; false on a fatal error.
  bool TakeOutput(std::string& out);
  // Whether nghttp2 still wants to read or write (false: the connection is done).
  bool WantsIo() const;
  // Gives `size` bytes of `stream_id`'s receive window back to the peer (they were
  // forwarded), and as much of the connection's.
  void Consume(int32_t stream_id, size_t size);
  // What went wrong when Receive or TakeOutput said false.
  const std::string& error() const { return error_; }
  nghttp2_session* session() { return session_; }

  // Writing to the owner's socket. Flush sends what nghttp2 queued: straight to a plain
  // socket when it takes all of it, else from a writer coroutine (one at a time, so bytes
  // never interleave). ScheduleFlush flushes once the current turn of the event loop ends,
  // so the work of many streams in one turn leaves in one write.
  void Flush();
  void ScheduleFlush();
  // Returns once no write is in progress.
  asio::awaitable<void> WaitWritten();
  // No more I/O (the owner is shutting down).
  void CloseIo() { io_closed_ = true; }
  bool io_closed() const { return io_closed_; }

 protected:
  // nghttp2's callbacks. Return 0, or NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE to reset the
  // stream, or NGHTTP2_ERR_CALLBACK_FAILURE to end the connection.
  virtual int OnBeginHeaders(const nghttp2_frame& frame) = 0;
  virtual int OnHeader(const nghttp2_frame& frame, std::string_view name,
                       std::string_view value) = 0;
  virtual int OnFrameRecv(const nghttp2_frame& frame) = 0;
  virtual int OnDataChunk(int32_t stream_id, std::string_view data) = 0;
  virtual int OnStreamClose(int32_t stream_id, uint32_t error_code) = 0;
  // The body source of a stream submitted with DataProvider(): copies up to `size` bytes to
  // `buf`; sets NGHTTP2_DATA_FLAG_EOF at the end (and NGHTTP2_DATA_FLAG_NO_END_STREAM when
  // trailers follow); NGHTTP2_ERR_DEFERRED when nothing is ready (resume with
  // nghttp2_session_resume_data).
  virtual ssize_t ReadData(int32_t stream_id, uint8_t* buf, size_t size, uint32_t* flags) = 0;
  // A data provider whose reads go to ReadData.
  nghttp2_data_provider DataProvider();
  // Where Flush writes: `socket`, through `tls` when not null; `executor` runs the writer.
  void SetTransport(asio::ip::tcp::socket* socket, asio::ssl::stream<asio::ip::tcp::socket&>* tls,
                    const asio::any_io_executor& executor);
  // A write failed, or nghttp2 gave up: the owner shuts the connection down.
  virtual void OnIoError() = 0;
  // Everything queued was written.
  virtual void OnFlushed() {}
  // What keeps the owner alive while a flush or a write is pending (null: nothing is
  // pending any more that may run).
  virtual std::shared_ptr<void> KeepAlive() = 0;
  // Counts a SETTINGS frame from the peer; false when they come faster than allowed.
  bool CountSettings();
  // Takes a token for a RST_STREAM from the peer (server side); false when the bucket is
  // empty (rapid reset). nghttp2's own limiter, on the wall clock, stays as a backstop.
  bool CountReset();

  const Http2Limits limits_;
  const Clock& clock_;
  const Role role_;

 private:
  friend struct Http2SessionCallbacks;
  asio::awaitable<void> Writer(std::shared_ptr<void> keep);

  nghttp2_session* session_ = nullptr;
  asio::ip::tcp::socket* socket_ = nullptr;
  asio::ssl::stream<asio::ip::tcp::socket&>* tls_ = nullptr;
  std::optional<asio::any_io_executor> executor_;
  std::optional<AsyncEvent> writer_done_;
  std::string out_;  // queued by nghttp2, not yet written
  size_t out_pos_ = 0;
  std::string writing_buf_;  // being written by the writer
  bool writing_ = false;
  bool flush_posted_ = false;
  bool io_closed_ = false;
  std::string error_;
  Clock::TimePoint settings_window_start_{};
  uint32_t settings_in_window_ = 0;
  Clock::TimePoint resets_refilled_{};
  uint64_t reset_tokens_ = 0;
  bool reset_bucket_started_ = false;
};

// The nghttp2 name/value for a field; nghttp2 copies both when the frame is submitted.
inline nghttp2_nv Nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace berth::gateway::server
