#include "registry/testing/http_stub.h"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include <fmt/core.h>

namespace berth::registry::testing {

struct HttpStub::Impl {
  explicit Impl(HttpStub& owner)
      : owner(owner),
        acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  HttpStub& owner;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor;
  std::thread thread;

  void Accept() {
    acceptor.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket s) {
      if (ec) return;
      auto sock = std::make_shared<asio::ip::tcp::socket>(std::move(s));
      auto buf = std::make_shared<asio::streambuf>(65536);
      asio::async_read_until(
          *sock, *buf, "\r\n\r\n", [this, sock, buf](const asio::error_code& ec, size_t) {
            if (ec) return;
            int status = owner.status_.load();
            auto body = std::make_shared<std::string>(fmt::format(
                "HTTP/1.1 {} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status));
            asio::async_write(*sock, asio::buffer(*body),
                              [this, sock, body, status](const asio::error_code& ec, size_t) {
                                if (!ec) {
                                  std::lock_guard lock(owner.mu_);
                                  ++owner.served_[status];
                                }
                                asio::error_code ignored;
                                sock->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                              });
          });
      Accept();
    });
  }
};

HttpStub::HttpStub() : impl_(std::make_unique<Impl>(*this)) {
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

HttpStub::~HttpStub() {
  impl_->io.stop();
  impl_->thread.join();
}

int64_t HttpStub::Served(int status) {
  std::lock_guard lock(mu_);
  return served_[status];
}

int64_t HttpStub::ServedTotal() {
  std::lock_guard lock(mu_);
  int64_t n = 0;
  for (auto& [k, v] : served_) n += v;
  return n;
}

}  // namespace berth::registry::testing
