#include "gateway/testing/worker_loop.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <cerrno>

#include <gtest/gtest.h>

#include "gateway/router/config.h"
#include "gateway/server/cluster_manager.h"

namespace berth::gateway::testing {

using asio::ip::tcp;

namespace {

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

Peer::~Peer() { Close(); }

Peer& Peer::operator=(Peer&& o) noexcept {
  if (this != &o) {
    Close();
    fd_ = std::exchange(o.fd_, -1);
    eof_ = o.eof_;
  }
  return *this;
}

bool Peer::Send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

size_t Peer::SendSome(std::string_view data) {
  ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

std::string Peer::Receive() {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) eof_ = true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) eof_ = true;  // reset
    break;
  }
  return out;
}

bool Peer::Closed() {
  if (!eof_) {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) eof_ = true;
  }
  return eof_;
}

void Peer::ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

void Peer::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Listener::Listener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::listen(fd_, 16), 0);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  SetNonBlocking(fd_);
}

Listener::~Listener() { ::close(fd_); }

std::optional<Peer> Listener::Accept() {
  int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return std::nullopt;
  return Peer(fd);
}

std::string RefusingAddress() {
  // A bound socket that does not listen holds the port: connecting to it is refused.
  static int fd = [] {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    return s;
  }();
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

WorkerLoop::WorkerLoop(server::WorkerOptions options)
    : worker_(std::make_unique<server::Worker>(0, std::move(options), clock_)) {}

WorkerLoop::~WorkerLoop() {
  // Stop's work closes every connection; their coroutines unwind in the last runs.
  worker_->Stop();
  worker_->RunHandedOver();
  RunUntilIdle();
}

void WorkerLoop::SetRoutes(std::string_view yaml) {
  auto snapshot = router::ParseConfig(std::string(yaml), "test");
  ASSERT_TRUE(snapshot) << snapshot.error().message;
  worker_->SetRoutes(std::make_shared<const router::RouteTable>(*snapshot));
  worker_->RunHandedOver();
}

void WorkerLoop::RunUntilIdle() {
  asio::io_context& io = worker_->io();
  // Twice empty in a row: the second pass also ran the reactor for readiness raised by the
  // handlers of the first.
  for (int empty = 0; empty < 2;) {
    io.restart();
    empty = io.poll() == 0 ? empty + 1 : 0;
  }
}

void WorkerLoop::Advance(std::chrono::milliseconds d) {
  clock_.Advance(d);
  worker_->SweepDeadlines();
  RunUntilIdle();
}

std::pair<tcp::socket, Peer> WorkerLoop::SocketPair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  SetNonBlocking(fds[1]);
  tcp::socket s(worker_->io());
  s.assign(tcp::v4(), fds[0]);
  return {std::move(s), Peer(fds[1])};
}

Peer WorkerLoop::AddPooledConnection(const std::string& cluster, const std::string& address) {
  auto [socket, peer] = SocketPair();
  auto c = worker_->clusters().Get(cluster);
  EXPECT_TRUE(c) << "no cluster " << cluster;
  if (!c) return std::move(peer);
  for (const auto& h : c->hosts()) {
    if (h->address() == address) {
      h->idle.push_back(std::move(socket));
      ++c->load().open_connections;
      return std::move(peer);
    }
  }
  ADD_FAILURE() << "cluster " << cluster << " has no host " << address;
  return std::move(peer);
}

std::shared_ptr<bool> WorkerLoop::Spawn(asio::awaitable<void> task) {
  auto done = std::make_shared<bool>(false);
  asio::co_spawn(worker_->io(), std::move(task), [done](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    *done = true;
  });
  return done;
}

TestConnection::TestConnection(WorkerLoop& loop, tcp::socket socket)
    : loop_(loop), down_(loop.worker(), std::move(socket), /*tls=*/false) {
  down_.set_slot(loop.worker().Register(this));
}

TestConnection::~TestConnection() { loop_.worker().Unregister(down_.slot()); }

void TestConnection::ReceiveHead(std::string_view bytes) {
  server::IoBuffer& in = down_.in();
  down_.EnsureBuffer(in);
  ASSERT_LE(in.end + bytes.size(), server::kIoBufferSize);
  std::memcpy(in.data.get() + in.end, bytes.data(), bytes.size());
  in.end += bytes.size();
  auto step = down_.parser().Feed(in.view());
  ASSERT_TRUE(step) << step.error().message;
  ASSERT_EQ(step->event, http::ParseEvent::kHead) << "no complete head in the bytes";
  in.Consume(step->consumed);
}

void TestConnection::Prepare(server::Exchange& ex) {
  const auto& head = down_.parser().head();
  ex.start = loop_.clock().Now();
  ex.method = head.method;
  ex.target = head.target;
  ex.path = ex.target.substr(0, ex.target.find('?'));
  ex.has_body = head.framing != http::BodyFraming::kNone;
  ex.keep_alive = head.keep_alive;
  ex.host = "test";
  ex.request_id = "test-request";
  ex.table = loop_.worker().routes();
  if (!ex.table) return;
  router::MatchInput in{ex.host, ex.method, ex.path,
                        [&head](std::string_view n) { return head.Get(n); }};
  ex.route = ex.table->Match(in);
}

void TestConnection::OnTimer() {
  if (!down_.closed() && down_.phase() != server::Downstream::Phase::kNone) down_.OnTimeout();
}

}  // namespace berth::gateway::testing
