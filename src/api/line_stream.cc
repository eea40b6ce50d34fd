#include "api/line_stream.h"

#include <asio/post.hpp>

namespace berth::api {

LineStream::LineStream(std::shared_ptr<Call> call, asio::io_context& io)
    : call_(std::move(call)), io_(io), timer_(io) {}

std::shared_ptr<LineStream> LineStream::Start(std::shared_ptr<Call> call, asio::io_context& io) {
  std::shared_ptr<LineStream> s(new LineStream(std::move(call), io));
  s->call_->StartStream();
  // Weak: the call holds the connection, which holds this callback until the client goes.
  s->call_->writer()->OnClose([w = std::weak_ptr<LineStream>(s)] {
    if (auto s = w.lock()) s->OnClientGone();
  });
  return s;
}

bool LineStream::Write(const Json& line) {
  std::lock_guard lock(mu_);
  if (closed_ || ended_) return false;
  return call_->StreamLine(line);
}

void LineStream::End(const Json& last) {
  std::lock_guard lock(mu_);
  if (closed_ || ended_) return;
  ended_ = true;
  call_->StreamLine(last);
  call_->EndStream();
}

void LineStream::EndWithError(const Error& error) { End(ErrorJson(error)); }

void LineStream::SetFeed(std::function<void()> cancel) {
  {
    std::lock_guard lock(mu_);
    if (!closed_) {
      feed_ = std::move(cancel);
      return;
    }
  }
  asio::post(io_, std::move(cancel));
}

void LineStream::KeepAlive(std::chrono::milliseconds every, std::function<Json()> line) {
  every_ = every;
  progress_ = std::move(line);
  asio::post(io_, [self = shared_from_this()] { self->ArmKeepAlive(); });
}

void LineStream::ArmKeepAlive() {
  timer_.expires_after(every_);
  timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec) return;
    if (!self->Write(self->progress_())) return;
    self->ArmKeepAlive();
  });
}

void LineStream::OnClientGone() {
  std::function<void()> feed;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    feed = std::move(feed_);
    feed_ = nullptr;
  }
  asio::post(io_, [self = shared_from_this(), feed = std::move(feed)] {
    self->timer_.cancel();
    if (feed) feed();
  });
}

Json WatchEndedJson(bool compacted, int64_t compact_revision, std::string_view cancel_reason) {
  return Json{
      {"error",
       {{"code", compacted ? "compacted" : "unavailable"},
        {"message", compacted ? "watch start revision was compacted" : std::string(cancel_reason)},
        {"compact_revision", compact_revision}}}};
}

}  // namespace berth::api
