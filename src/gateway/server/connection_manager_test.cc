// ConnectionManager on the fake loop: the client is a socket pair, upstreams are pooled socket
// pairs, time is the loop's clock; everything runs when the test says so.
#include "gateway/server/connection_manager.h"

#include <gtest/gtest.h>

#include "gateway/server/cluster_manager.h"
#include "gateway/testing/worker_loop.h"

namespace berth::gateway::server {
namespace {

using namespace std::chrono_literals;
using testing::Peer;
using testing::WorkerLoop;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
constexpr std::string_view kRoutes =
    R"(routes: [{name: r, match: {prefix: /p}, upstreams: ["127.0.0.1:9"]}])";

WorkerOptions Options() {
  WorkerOptions o;
  o.limits.max_request_line_bytes = 100;
  o.limits.max_header_bytes = 400;
  o.idle_timeout = 60s;
  o.header_timeout = 10s;
  return o;
}

class ConnectionManagerTest : public ::testing::Test {
 protected:
  ConnectionManagerTest() : loop_(Options()) {}

  // A new client connection served by a ConnectionManager.
  Peer Connect(bool admin = false) {
    auto [socket, client] = loop_.SocketPair();
    std::make_shared<ConnectionManager>(loop_.worker(), std::move(socket), admin)->Start();
    loop_.RunUntilIdle();
    return std::move(client);
  }

  // Sends `request`; the upstream `up` answers `answer` once it received something.
  std::string Exchange(Peer& client, Peer& up, std::string_view request,
                       std::string_view answer = kOk) {
    EXPECT_TRUE(client.Send(request));
    loop_.RunUntilIdle();
    EXPECT_FALSE(up.Receive().empty()) << "nothing reached the upstream";
    EXPECT_TRUE(up.Send(answer));
    loop_.RunUntilIdle();
    return client.Receive();
  }

  WorkerLoop loop_;
};

TEST_F(ConnectionManagerTest, MalformedHeadsAreAnsweredAndClosedWithoutAnUpstream) {
  loop_.SetRoutes(kRoutes);
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  struct Case {
    std::string request;
    std::string status_line;
  };
  const Case cases[] = {
      {"GET /p HTTP/1.1\nHost: t\n\n", "HTTP/1.1 400 Bad Request\r\n"},
      {"GET /p" + std::string(200, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n",
       "HTTP/1.1 414 URI Too Long\r\n"},
      {"GET /p HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(500, 'b') + "\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
      {"GET /p HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported\r\n"},
  };
  for (const auto& c : cases) {
    Peer client = Connect();
    ASSERT_TRUE(client.Send(c.request));
    loop_.RunUntilIdle();
    const std::string answer = client.Receive();
    EXPECT_TRUE(answer.starts_with(c.status_line)) << answer;
    EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
    EXPECT_TRUE(client.Closed());
  }
  EXPECT_EQ(up.Receive(), "");
  EXPECT_EQ(loop_.worker().stats().bad_requests.value(), 4u);
}

TEST_F(ConnectionManagerTest, NoRouteIs404AndTheConnectionServesTheNextRequest) {
  loop_.SetRoutes(kRoutes);
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer client = Connect();
  ASSERT_TRUE(client.Send("GET /elsewhere HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc\r\n\r\n"));
  loop_.RunUntilIdle();
  const std::string answer = client.Receive();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 404 Not Found\r\n")) << answer;
  EXPECT_NE(answer.find("X-Request-Id: abc\r\n"), std::string::npos) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\nno route\n")) << answer;
  EXPECT_EQ(Exchange(client, up, "GET /p HTTP/1.1\r\nHost: t\r\n\r\n"), kOk);
  EXPECT_EQ(loop_.worker().stats().no_route.value(), 1u);
}

TEST_F(ConnectionManagerTest, NoConfigurationIs503) {
  Peer client = Connect();
  ASSERT_TRUE(client.Send("HEAD /p HTTP/1.1\r\nHost: t\r\n\r\n"));
  loop_.RunUntilIdle();
  const std::string answer = client.Receive();
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << answer;
  EXPECT_TRUE(answer.ends_with("\r\n\r\n")) << "a HEAD answer has no body: " << answer;
}

TEST_F(ConnectionManagerTest, FilterThatStopsARequestIsAnsweredLocally) {
  loop_.SetRoutes(R"(routes: [{name: r, upstreams: ["127.0.0.1:9"],
      filters: [{rate_limit: {requests_per_second: 1, burst: 1}}]}])");
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer client = Connect();
  EXPECT_EQ(Exchange(client, up, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"), kOk);
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  loop_.RunUntilIdle();
  EXPECT_TRUE(client.Receive().starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
  EXPECT_EQ(up.Receive(), "");
  loop_.Advance(1000ms);  // the bucket refills
  EXPECT_EQ(Exchange(client, up, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"), kOk);
}

TEST_F(ConnectionManagerTest, PipelinedRequestsAreAnsweredInOrder) {
  loop_.SetRoutes(kRoutes);
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer client = Connect();
  ASSERT_TRUE(
      client.Send("GET /p1 HTTP/1.1\r\nHost: t\r\n\r\nGET /p2 HTTP/1.1\r\nHost: t\r\n\r\n"));
  loop_.RunUntilIdle();
  EXPECT_TRUE(up.Receive().starts_with("GET /p1 "));
  ASSERT_TRUE(up.Send("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"));
  loop_.RunUntilIdle();
  EXPECT_TRUE(up.Receive().starts_with("GET /p2 "));  // only after the first was answered
  ASSERT_TRUE(up.Send("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"));
  loop_.RunUntilIdle();
  EXPECT_EQ(
      client.Receive(),
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
}

TEST_F(ConnectionManagerTest, IdleConnectionIsServedAfterItsCoroutineEndsAndTimesOut) {
  loop_.SetRoutes(kRoutes);
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer client = Connect();
  EXPECT_EQ(Exchange(client, up, "GET /p HTTP/1.1\r\nHost: t\r\n\r\n"), kOk);
  // Past kHotIdle the connection waits without its coroutine; it serves the same.
  loop_.Advance(ConnectionManager::kHotIdle + 1ms);
  EXPECT_FALSE(client.Closed());
  EXPECT_EQ(Exchange(client, up, "GET /p HTTP/1.1\r\nHost: t\r\n\r\n"), kOk);
  loop_.Advance(59s);
  EXPECT_FALSE(client.Closed());
  loop_.Advance(1s + 1ms);
  EXPECT_TRUE(client.Closed());
}

TEST(ConnectionManagerShortIdleTest, IdleTimeoutShorterThanTheHotWaitClosesAtItsDeadline) {
  WorkerOptions o = Options();
  o.idle_timeout = 50ms;  // below kHotIdle
  WorkerLoop loop(o);
  loop.SetRoutes(kRoutes);
  Peer up = loop.AddPooledConnection("r#0", "127.0.0.1:9");
  auto [socket, client] = loop.SocketPair();
  std::make_shared<ConnectionManager>(loop.worker(), std::move(socket), false)->Start();
  ASSERT_TRUE(client.Send("GET /p HTTP/1.1\r\nHost: t\r\n\r\n"));
  loop.RunUntilIdle();
  ASSERT_TRUE(up.Send(kOk));
  loop.RunUntilIdle();
  EXPECT_EQ(client.Receive(), kOk);
  loop.Advance(49ms);
  EXPECT_FALSE(client.Closed());
  loop.Advance(2ms);
  EXPECT_TRUE(client.Closed());
}

TEST_F(ConnectionManagerTest, HeadThatDoesNotArriveInTimeClosesTheConnection) {
  loop_.SetRoutes(kRoutes);
  Peer client = Connect();
  ASSERT_TRUE(client.Send("GET /p HTTP/1.1\r\nHo"));
  loop_.RunUntilIdle();
  loop_.Advance(5s);
  ASSERT_TRUE(client.Send("st: t\r\n"));  // bytes do not extend the head's deadline
  loop_.Advance(5s + 1ms);
  EXPECT_TRUE(client.Closed());
}

TEST_F(ConnectionManagerTest, DrainClosesIdleConnectionsAndLetsTheOthersFinish) {
  loop_.SetRoutes(kRoutes);
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer idle = Connect();
  Peer busy = Connect();
  ASSERT_TRUE(busy.Send("GET /p HTTP/1.1\r\nHost: t\r\n\r\n"));
  loop_.RunUntilIdle();
  loop_.worker().Drain();
  loop_.worker().RunHandedOver();
  loop_.RunUntilIdle();
  EXPECT_TRUE(idle.Closed());
  EXPECT_FALSE(busy.Closed());
  ASSERT_FALSE(up.Receive().empty());
  ASSERT_TRUE(up.Send(kOk));
  loop_.RunUntilIdle();
  EXPECT_EQ(busy.Receive(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  EXPECT_TRUE(busy.Closed());
}

TEST_F(ConnectionManagerTest, UpstreamFailureIsAnsweredWithTheRequestId) {
  loop_.SetRoutes(kRoutes);
  Peer up = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer client = Connect();
  const std::string answer =
      Exchange(client, up, "GET /p HTTP/1.1\r\nHost: t\r\nX-Request-Id: r-1\r\n\r\n",
               "HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n");
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n")) << answer;
  EXPECT_NE(answer.find("X-Request-Id: r-1\r\n"), std::string::npos) << answer;
  EXPECT_TRUE(answer.ends_with("bad upstream response\n")) << answer;
  EXPECT_TRUE(client.Closed());
}

TEST_F(ConnectionManagerTest, AdminListenerAnswersReadyAndNothingElse) {
  Peer admin = Connect(/*admin=*/true);
  ASSERT_TRUE(admin.Send("GET /ready HTTP/1.1\r\nHost: a\r\n\r\n"));
  loop_.RunUntilIdle();
  EXPECT_TRUE(admin.Receive().ends_with("\r\n\r\nready\n"));
  ASSERT_TRUE(admin.Send("GET /p HTTP/1.1\r\nHost: a\r\n\r\n"));
  loop_.RunUntilIdle();
  EXPECT_TRUE(admin.Receive().starts_with("HTTP/1.1 404 Not Found\r\n"));
}

}  // namespace
}  // namespace berth::gateway::server
