// A client given several servers ("http://a,http://b") fails over when one cannot be reached
// or answers 503 for an idempotent request, sticks to the one that answered, and never sends
// a POST again once it may have reached a server.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "core/http/client.h"
#include "core/http/server.h"

namespace berth::http {
namespace {

// A port with nothing listening (bound, read back, closed).
int DeadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A server that answers `status` and counts its requests.
struct CountingServer {
  explicit CountingServer(int status, std::string name) {
    auto s = Server::Listen({.address = "127.0.0.1:0"},
                            [this, status, name](Request&&, std::shared_ptr<ResponseWriter> w) {
                              ++requests;
                              w->Send(Response::Text(status, name));
                            });
    EXPECT_TRUE(s) << s.error().message;
    server = std::move(*s);
    server->Start();
  }
  ~CountingServer() { server->Stop(); }
  std::string base() const { return "http://" + server->address(); }
  std::unique_ptr<Server> server;
  std::atomic<int> requests{0};
};

// A listener that reads a request and closes without answering (the request reached it).
struct Hangup {
  Hangup() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd, 8);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    thread = std::thread([this] {
      for (;;) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        (void)::read(c, buf, sizeof buf);
        ++requests;
        ::close(c);
      }
    });
  }
  ~Hangup() {
    ::shutdown(fd, SHUT_RDWR);
    thread.join();
    ::close(fd);
  }
  int fd = -1;
  int port = 0;
  std::atomic<int> requests{0};
  std::thread thread;
};

Request Req(std::string method) { return Request{.method = std::move(method), .target = "/x"}; }

TEST(FailoverClientTest, GoesToTheNextServerWhenOneCannotBeReachedAndStaysThere) {
  CountingServer b(200, "b");
  auto client = Client::Create(fmt::format("http://127.0.0.1:{},{}", DeadPort(), b.base()));
  ASSERT_TRUE(client) << client.error().message;
  for (const char* method : {"GET", "POST", "GET"}) {
    auto r = (*client)->Send(Req(method));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "b") << "a refused connect never sent the request: any method may move";
  }
  EXPECT_EQ(b.requests.load(), 3);
}

TEST(FailoverClientTest, A503MovesIdempotentRequestsOnlyAndIsReturnedWhenAllFail) {
  CountingServer a(503, "a");
  CountingServer b(200, "b");
  auto client = Client::Create(a.base() + "," + b.base());
  ASSERT_TRUE(client) << client.error().message;
  auto get = (*client)->Send(Req("GET"));
  ASSERT_TRUE(get) << get.error().message;
  EXPECT_EQ(get->body, "b");
  CountingServer c(503, "c");
  CountingServer d(503, "d");
  auto both_down = Client::Create(c.base() + "," + d.base());
  ASSERT_TRUE(both_down);
  auto post = (*both_down)->Send(Req("POST"));
  ASSERT_TRUE(post) << post.error().message;
  EXPECT_EQ(post->status, 503) << "a POST's 503 is its answer";
  EXPECT_EQ(d.requests.load(), 0);
  auto put = (*both_down)->Send(Req("PUT"));
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 503) << "every server said 503: the last answer is returned";
  EXPECT_EQ(d.requests.load(), 1);
}

TEST(FailoverClientTest, APostThatMayHaveArrivedIsNeverSentAgain) {
  Hangup a;
  CountingServer b(200, "b");
  auto client = Client::Create(fmt::format("http://127.0.0.1:{},{}", a.port, b.base()));
  ASSERT_TRUE(client);
  auto post = (*client)->Send(Req("POST"));
  ASSERT_FALSE(post);
  EXPECT_EQ(post.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(post.error().message.find("may or may not"), std::string::npos) << post.error().message;
  EXPECT_EQ(b.requests.load(), 0);
  auto get = (*client)->Send(Req("GET"));
  ASSERT_TRUE(get) << get.error().message;
  EXPECT_EQ(get->body, "b") << "a GET is sent again elsewhere";
}

TEST(FailoverClientTest, NoServerAnsweringNamesThemAllAndBadListsAreRefused) {
  std::string list = fmt::format("http://127.0.0.1:{},http://127.0.0.1:{}", DeadPort(), DeadPort());
  auto client = Client::Create(list);
  ASSERT_TRUE(client);
  auto r = (*client)->Send(Req("GET"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find(list), std::string::npos) << r.error().message;
  auto empty = Client::Create("http://127.0.0.1:1,,http://127.0.0.1:2");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Client::Create("http://127.0.0.1:1,ftp://x"));
}

}  // namespace
}  // namespace berth::http
