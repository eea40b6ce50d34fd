#include "gateway/server/downstream.h"

#include "gateway/server/ready_wait.h"
#include "gateway/server/worker.h"

namespace berth::gateway::server {

using asio::ip::tcp;

Downstream::Downstream(Worker& worker, tcp::socket socket, bool tls)
    : worker_(worker), socket_(std::move(socket)) {
  asio::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) client_ip_ = ep.address().to_string();
  socket_.set_option(tcp::no_delay(true), ec);
  if (tls && worker_.tls_context() != nullptr) {
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *worker_.tls_context());
  }
}

Downstream::~Downstream() { ReleaseBuffers(); }

http::Parser& Downstream::parser() {
  if (!parser_) parser_ = worker_.TakeParser(http::MessageKind::kRequest);
  return *parser_;
}

void Downstream::EnsureBuffer(IoBuffer& b) {
  if (!b.data) {
    b.data = worker_.TakeBuffer();
    b.begin = b.end = 0;
  }
}

std::string& Downstream::Out() {
  if (out_.capacity() < 256) out_ = worker_.TakeString();
  out_.clear();
  return out_;
}

void Downstream::ReleaseBuffers() {
  if (parser_ && parser_->idle())
    worker_.GiveParser(http::MessageKind::kRequest, std::move(parser_));
  if (in_.data && in_.empty()) worker_.GiveBuffer(std::move(in_.data));
  if (upstream_in_.data && upstream_in_.empty()) worker_.GiveBuffer(std::move(upstream_in_.data));
  if (out_.capacity() > 0) {
    worker_.GiveString(std::move(out_));
    out_ = std::string();
  }
}

void Downstream::Drained() {
  // Through TLS the reads of the socket are the TLS stream's, not these.
  if (!tls_) NoteReadDrained(socket_);
}

void Downstream::SetPhase(Phase phase, std::chrono::milliseconds timeout) {
  SetPhaseUntil(phase, phase == Phase::kNone || timeout.count() == 0
                           ? Clock::TimePoint::max()
                           : worker_.clock().Now() + timeout);
}

void Downstream::SetPhaseUntil(Phase phase, Clock::TimePoint deadline) {
  phase_ = phase;
  worker_.SetDeadline(slot_, deadline);
}

Clock::TimePoint Downstream::IdleDeadline() const {
  const auto timeout = worker_.options().idle_timeout;
  return timeout.count() == 0 ? Clock::TimePoint::max() : worker_.clock().Now() + timeout;
}

void Downstream::OnTimeout() {
  timed_out_ = true;
  if (phase_ == Phase::kUpstream && upstream_ != nullptr) {
    asio::error_code ec;
    upstream_->close(ec);  // the exchange answers 504
  } else {
    Close();
  }
}

void Downstream::Close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ec;
  socket_.close(ec);
  if (upstream_ != nullptr) upstream_->close(ec);
  phase_ = Phase::kNone;
  worker_.SetDeadline(slot_, Clock::TimePoint::max());
}

}  // namespace berth::gateway::server
