// The production Connection's failure classification: a request that could not be sent
// (nobody listening) is kUnavailable and may go to another member; one that may have
// reached the server (connection closed after the request) is not.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "store/etcd/internal/transport.h"

namespace berth::store::etcd_internal {
namespace {

// A loopback listener; port() is where it listens.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }
  void Close() {
    ::close(fd_);
    fd_ = -1;
  }
  // Accepts one connection, reads the request head, then closes without answering.
  std::thread AcceptReadAndClose() {
    return std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      ::close(c);
    });
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

ConnectionOptions Short() {
  return ConnectionOptions{.connect_timeout = std::chrono::milliseconds(5000),
                           .io_timeout = std::chrono::milliseconds(30000)};
}

TEST(HttpConnectionTest, RefusedConnectionIsUnavailableSoTheRequestMayGoElsewhere) {
  Listener l;
  int port = l.port();
  l.Close();  // nobody listens on the port now
  auto conn = DefaultConnectionFactory()("http://127.0.0.1:" + std::to_string(port), Short());
  ASSERT_TRUE(conn.has_value());
  auto reply = (*conn)->Post("/v3/kv/put", "{}");
  ASSERT_FALSE(reply.has_value());
  EXPECT_EQ(reply.error().code, ErrorCode::kUnavailable) << reply.error().message;
}

TEST(HttpConnectionTest, ConnectionClosedAfterTheRequestLeavesTheOutcomeUnknown) {
  Listener l;
  std::thread server = l.AcceptReadAndClose();
  auto conn = DefaultConnectionFactory()("http://127.0.0.1:" + std::to_string(l.port()), Short());
  ASSERT_TRUE(conn.has_value());
  auto reply = (*conn)->Post("/v3/kv/put", "{}");
  server.join();
  ASSERT_FALSE(reply.has_value());
  EXPECT_NE(reply.error().code, ErrorCode::kUnavailable) << reply.error().message;
}

}  // namespace
}  // namespace berth::store::etcd_internal
