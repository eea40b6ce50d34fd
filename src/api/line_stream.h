// LineStream: a JSON-lines stream (Call::StartStream) fed from several threads at once — a
// watch's callbacks and a keep-alive timer. The node agent's streams use it
// (`/v1/nodes/{node}/assignments?watch=1`, `/v1/nodes/{node}/checks?watch=1`).
//
// Lines are written under one lock, and none once the client has gone or the stream has
// ended. When the client goes, the keep-alive stops and the feed (the watch writing the
// lines) is canceled on the io context, off the connection's thread: a cancel may wait for a
// callback that is running.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "api/router.h"

namespace berth::api {

class LineStream : public std::enable_shared_from_this<LineStream> {
 public:
  // Starts the stream on `call` (200, application/x-ndjson).
  static std::shared_ptr<LineStream> Start(std::shared_ptr<Call> call, asio::io_context& io);

  // Writes one line; false once the client has gone or the stream has ended.
  bool Write(const Json& line);
  // Writes `last` and ends the stream (nothing when the client has gone or it has ended).
  void End(const Json& last);
  // Ends the stream with the error as its last line ({"error":{"code","message"}}).
  void EndWithError(const Error& error);

  // `cancel` stops the feed; it runs once, on the io context, when the client goes (at once
  // when it has gone already). The feed may hold this stream: that cycle ends then.
  void SetFeed(std::function<void()> cancel);
  // Writes `line()` every `every` (a progress line) until the client goes or the stream ends.
  void KeepAlive(std::chrono::milliseconds every, std::function<Json()> line);

  LineStream(const LineStream&) = delete;
  LineStream& operator=(const LineStream&) = delete;

 private:
  LineStream(std::shared_ptr<Call> call, asio::io_context& io);
  void OnClientGone();
  void ArmKeepAlive();

  const std::shared_ptr<Call> call_;
  asio::io_context& io_;
  std::mutex mu_;
  bool closed_ = false;         // guarded by mu_: the client has gone
  bool ended_ = false;          // guarded by mu_: End was called
  std::function<void()> feed_;  // guarded by mu_
  asio::steady_timer timer_;    // on io_
  std::chrono::milliseconds every_{0};
  std::function<Json()> progress_;  // set once, before the first tick
};

// The last line of a watch stream the store ended: {"error":{"code":"compacted" (the start
// revision was compacted; list again) or "unavailable" (resume from the last revision + 1),
// "message","compact_revision"}}.
Json WatchEndedJson(bool compacted, int64_t compact_revision, std::string_view cancel_reason);

}  // namespace berth::api
