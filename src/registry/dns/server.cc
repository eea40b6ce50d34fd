#include "registry/dns/server.h"

#include <array>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <atomic>

#include <fmt/core.h>

#include "core/log.h"

namespace berth::registry::dns {
namespace {

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(asio::ip::tcp::socket s, Answerer& a, std::chrono::milliseconds idle,
                std::shared_ptr<std::atomic<size_t>> count)
      : socket_(std::move(s)),
        timer_(socket_.get_executor()),
        answerer_(a),
        idle_(idle),
        count_(std::move(count)) {}
  ~TcpConnection() { --*count_; }

  void Start() { ReadLength(); }

 private:
  void Arm() {
    timer_.expires_after(idle_);
    auto self = shared_from_this();
    timer_.async_wait([self](const asio::error_code& ec) {
      if (ec) return;
      asio::error_code ignored;
      self->socket_.close(ignored);
    });
  }
  void ReadLength() {
    Arm();
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(len_), [self](const asio::error_code& ec, size_t) {
      if (ec) return self->Close();
      size_t n = (static_cast<size_t>(self->len_[0]) << 8) | self->len_[1];
      if (n < kHeaderBytes) return self->Close();
      self->msg_.resize(n);
      asio::async_read(self->socket_, asio::buffer(self->msg_),
                       [self](const asio::error_code& ec, size_t) {
                         if (ec) return self->Close();
                         self->Answer();
                       });
    });
  }
  void Answer() {
    auto out = answerer_.Handle(msg_, /*udp=*/false);
    if (out.empty()) return ReadLength();
    out_.resize(2 + out.size());
    out_[0] = static_cast<uint8_t>(out.size() >> 8);
    out_[1] = static_cast<uint8_t>(out.size() & 0xff);
    std::copy(out.begin(), out.end(), out_.begin() + 2);
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_), [self](const asio::error_code& ec, size_t) {
      if (ec) return self->Close();
      self->ReadLength();
    });
  }
  void Close() {
    timer_.cancel();
    asio::error_code ignored;
    socket_.close(ignored);
  }

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  Answerer& answerer_;
  std::chrono::milliseconds idle_;
  std::shared_ptr<std::atomic<size_t>> count_;
  std::array<uint8_t, 2> len_{};
  std::vector<uint8_t> msg_;
  std::vector<uint8_t> out_;
};

class DnsServerImpl final : public DnsServer, public std::enable_shared_from_this<DnsServerImpl> {
 public:
  DnsServerImpl(asio::io_context& io, Answerer& a, DnsServerOptions o)
      : io_(io), answerer_(a), options_(std::move(o)), udp_(io), tcp_(io) {}

  Result<void> Bind() {
    std::string_view addr = options_.address;
    auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("DNS address \"{}\" must be host:port", addr));
    }
    std::string host(addr.substr(0, colon));
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    int port = std::atoi(std::string(addr.substr(colon + 1)).c_str());
    asio::error_code ec;
    auto ip = asio::ip::make_address(host, ec);
    if (ec)
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("DNS address \"{}\": {}", addr, ec.message()));
    for (int attempt = 0; attempt < 20; ++attempt) {
      asio::error_code e1, e2;
      udp_.open(ip.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), e1);
      if (!e1) udp_.bind(asio::ip::udp::endpoint(ip, static_cast<uint16_t>(port)), e1);
      if (e1) {
        udp_.close(e2);
        return Fail(ErrorCode::kUnavailable,
                    fmt::format("DNS UDP bind {}: {}", addr, e1.message()));
      }
      uint16_t bound = udp_.local_endpoint().port();
      tcp_.open(ip.is_v4() ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), e1);
      tcp_.set_option(asio::socket_base::reuse_address(true), e2);
      if (!e1) tcp_.bind(asio::ip::tcp::endpoint(ip, bound), e1);
      if (!e1) tcp_.listen(asio::socket_base::max_listen_connections, e1);
      if (!e1) {
        port_ = bound;
        return {};
      }
      tcp_.close(e2);
      udp_.close(e2);
      if (port != 0) {
        return Fail(ErrorCode::kUnavailable,
                    fmt::format("DNS TCP bind {}: {}", addr, e1.message()));
      }
      // Port 0: the UDP port's TCP twin was taken; try another.
    }
    return Fail(ErrorCode::kUnavailable, "DNS: no port free for both UDP and TCP");
  }

  void Start() override {
    ReceiveUdp();
    AcceptTcp();
  }
  void Stop() override {
    asio::post(io_, [self = shared_from_this()] {
      asio::error_code ignored;
      self->udp_.close(ignored);
      self->tcp_.close(ignored);
    });
  }
  uint16_t port() const override { return port_; }

 private:
  void ReceiveUdp() {
    auto self = shared_from_this();
    udp_.async_receive_from(
        asio::buffer(buf_), peer_, [self](const asio::error_code& ec, size_t n) {
          if (ec == asio::error::operation_aborted || !self->udp_.is_open()) return;
          if (!ec) {
            auto out = self->answerer_.Handle(std::span<const uint8_t>(self->buf_.data(), n), true);
            if (!out.empty()) {
              asio::error_code ignored;
              self->udp_.send_to(asio::buffer(out), self->peer_, 0, ignored);
            }
          }
          self->ReceiveUdp();
        });
  }
  void AcceptTcp() {
    auto self = shared_from_this();
    tcp_.async_accept([self](const asio::error_code& ec, asio::ip::tcp::socket s) {
      if (ec == asio::error::operation_aborted || !self->tcp_.is_open()) return;
      if (!ec) {
        if (*self->tcp_count_ >= self->options_.max_tcp_connections) {
          asio::error_code ignored;
          s.close(ignored);
        } else {
          ++*self->tcp_count_;
          std::make_shared<TcpConnection>(std::move(s), self->answerer_,
                                          self->options_.tcp_idle_timeout, self->tcp_count_)
              ->Start();
        }
      }
      self->AcceptTcp();
    });
  }

  asio::io_context& io_;
  Answerer& answerer_;
  DnsServerOptions options_;
  asio::ip::udp::socket udp_;
  asio::ip::tcp::acceptor tcp_;
  uint16_t port_ = 0;
  std::array<uint8_t, 65536> buf_{};
  asio::ip::udp::endpoint peer_;
  std::shared_ptr<std::atomic<size_t>> tcp_count_ = std::make_shared<std::atomic<size_t>>(0);
};

// Owns the shared implementation so handlers can keep it alive after the owner goes.
class DnsServerHandle final : public DnsServer {
 public:
  explicit DnsServerHandle(std::shared_ptr<DnsServerImpl> impl) : impl_(std::move(impl)) {}
  ~DnsServerHandle() override { impl_->Stop(); }
  void Start() override { impl_->Start(); }
  void Stop() override { impl_->Stop(); }
  uint16_t port() const override { return impl_->port(); }

 private:
  std::shared_ptr<DnsServerImpl> impl_;
};

}  // namespace

Result<std::unique_ptr<DnsServer>> DnsServer::Listen(asio::io_context& io, Answerer& answerer,
                                                     DnsServerOptions options) {
  auto impl = std::make_shared<DnsServerImpl>(io, answerer, std::move(options));
  if (auto r = impl->Bind(); !r) return std::unexpected(r.error());
  return std::unique_ptr<DnsServer>(new DnsServerHandle(std::move(impl)));
}

}  // namespace berth::registry::dns
