// UpstreamRequest on the fake loop: a client connection without a connection manager, and
// upstreams that are pooled socket pairs or loopback listeners, all driven by the test.
#include "gateway/server/upstream_request.h"

#include <gtest/gtest.h>

#include "core/testing/random.h"
#include "gateway/server/cluster_manager.h"
#include "gateway/server/stats.h"
#include "gateway/testing/worker_loop.h"

namespace berth::gateway::server {
namespace {

using testing::Listener;
using testing::Peer;
using testing::TestConnection;
using testing::WorkerLoop;
using Outcome = UpstreamRequest::Outcome;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

class UpstreamRequestTest : public ::testing::Test {
 protected:
  // Routes with one route "r" to `upstreams` (its cluster is "r#0"), plus `extra` settings.
  void Routes(const std::vector<std::string>& upstreams, std::string_view extra = "") {
    std::string list;
    for (const auto& u : upstreams) list += (list.empty() ? "\"" : ", \"") + u + "\"";
    loop_.SetRoutes("routes:\n  - {name: r, upstreams: [" + list + "]" +
                    (extra.empty() ? "" : ", " + std::string(extra)) + "}\n");
  }

  // A new client connection whose request (head, maybe part of a body) is `bytes`; runs the
  // upstream request for it.
  std::shared_ptr<std::optional<Outcome>> Request(std::string_view bytes) {
    auto [down, client] = loop_.SocketPair();
    client_ = std::move(client);
    conn_ = std::make_unique<TestConnection>(loop_, std::move(down));
    ex_ = std::make_unique<Exchange>();
    conn_->ReceiveHead(bytes);
    conn_->Prepare(*ex_);
    EXPECT_NE(ex_->route, nullptr);
    request_ = std::make_unique<UpstreamRequest>(conn_->down(), *ex_);
    auto outcome = loop_.Spawn(request_->Run());
    loop_.RunUntilIdle();
    return outcome;
  }

  WorkerCluster& Cluster() { return *loop_.worker().clusters().Get("r#0"); }

  // `upstream` answers kOk: the request ends with it forwarded and the client kept.
  void AnswerOk(Peer& upstream, const std::shared_ptr<std::optional<Outcome>>& outcome) {
    ASSERT_TRUE(upstream.Send(kOk));
    loop_.RunUntilIdle();
    ASSERT_TRUE(*outcome);
    EXPECT_EQ(**outcome, Outcome::kKeepAlive);
    EXPECT_EQ(client_.Receive(), kOk);
  }

  WorkerLoop loop_;
  Peer client_;
  std::unique_ptr<TestConnection> conn_;
  std::unique_ptr<Exchange> ex_;
  std::unique_ptr<UpstreamRequest> request_;
};

TEST_F(UpstreamRequestTest, ProxiesOverAPooledConnectionAndPoolsItAgain) {
  Routes({"127.0.0.1:9"});
  Peer upstream = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  auto outcome = Request("GET /a?b HTTP/1.1\r\nHost: test\r\n\r\n");
  const std::string sent = upstream.Receive();
  EXPECT_TRUE(sent.starts_with("GET /a?b HTTP/1.1\r\nHost: test\r\n")) << sent;
  EXPECT_NE(sent.find("X-Request-Id: test-request\r\n"), std::string::npos) << sent;
  EXPECT_FALSE(*outcome);
  AnswerOk(upstream, outcome);
  EXPECT_EQ(ex_->status, 200);
  EXPECT_EQ(ex_->upstream, "127.0.0.1:9");
  EXPECT_EQ(ex_->attempts, 1);
  EXPECT_EQ(Cluster().hosts()[0]->idle.size(), 1u);
  EXPECT_EQ(Cluster().stats().status_class[2].value(), 1u);
  EXPECT_EQ(Cluster().load().active_requests, 0u);
}

TEST_F(UpstreamRequestTest, OpensAConnectionWhenNoneIsPooled) {
  Listener listener;
  Routes({listener.address()});
  auto outcome = Request("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  auto upstream = listener.Accept();
  ASSERT_TRUE(upstream);
  EXPECT_TRUE(upstream->Receive().starts_with("GET / HTTP/1.1\r\n"));
  AnswerOk(*upstream, outcome);
  EXPECT_EQ(Cluster().stats().connections_opened.value(), 1u);
  EXPECT_EQ(Cluster().load().open_connections, 1u);
}

TEST_F(UpstreamRequestTest, ConnectFailureIsRetriedOnAnotherHost) {
  Listener listener;
  Routes({testing::RefusingAddress(), listener.address()}, "retry: {attempts: 1}");
  // Round robin alternates: of two requests at least one tries the refusing host first.
  std::optional<Peer> upstream;
  for (int i = 0; i < 2; ++i) {
    auto outcome = Request("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    if (auto accepted = listener.Accept()) upstream = std::move(accepted);
    ASSERT_TRUE(upstream);
    upstream->Receive();
    AnswerOk(*upstream, outcome);
  }
  EXPECT_GE(Cluster().stats().connect_failures.value(), 1u);
  EXPECT_EQ(Cluster().stats().retries.value(), Cluster().stats().connect_failures.value());
}

TEST_F(UpstreamRequestTest, ConnectFailureWithoutRetriesAnswers503) {
  Routes({testing::RefusingAddress()});
  auto outcome = Request("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(*outcome);
  EXPECT_EQ(**outcome, Outcome::kLocalReply);
  EXPECT_EQ(ex_->reply_status, 503);
  EXPECT_EQ(ex_->reply_body, "upstream connect error\n");
  EXPECT_EQ(ex_->flags, "UF");
  EXPECT_EQ(Cluster().load().open_connections, 0u);
}

TEST_F(UpstreamRequestTest, ListedStatusIsRetriedAndOnlyTheLastAnswerForwarded) {
  Routes({"127.0.0.1:9"}, "retry: {attempts: 1, on: [503]}");
  Peer second = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  Peer first = loop_.AddPooledConnection("r#0", "127.0.0.1:9");  // most recent: taken first
  auto outcome = Request("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_FALSE(first.Receive().empty());
  ASSERT_TRUE(first.Send("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"));
  loop_.RunUntilIdle();
  ASSERT_FALSE(second.Receive().empty());
  AnswerOk(second, outcome);
  EXPECT_EQ(ex_->attempts, 2);
  EXPECT_EQ(Cluster().stats().retries.value(), 1u);
  EXPECT_TRUE(first.Closed());  // a retried answer's connection is not reused
}

TEST_F(UpstreamRequestTest, RequestWithABodyIsNotRetriedOnStatus) {
  Routes({"127.0.0.1:9"}, "retry: {attempts: 1, on: [503]}");
  Peer upstream = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  auto outcome = Request("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi");
  upstream.Receive();
  const std::string busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
  ASSERT_TRUE(upstream.Send(busy));
  loop_.RunUntilIdle();
  ASSERT_TRUE(*outcome);
  EXPECT_EQ(**outcome, Outcome::kKeepAlive);
  EXPECT_EQ(client_.Receive(), busy);
  EXPECT_EQ(Cluster().stats().retries.value(), 0u);
}

TEST_F(UpstreamRequestTest, StalePooledConnectionIsReplacedByAFreshOne) {
  Listener listener;
  Routes({listener.address()});
  loop_.AddPooledConnection("r#0", listener.address()).Close();  // the upstream closed it
  auto outcome = Request("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  auto upstream = listener.Accept();
  ASSERT_TRUE(upstream);
  upstream->Receive();
  AnswerOk(*upstream, outcome);
  EXPECT_EQ(ex_->attempts, 1);
  EXPECT_EQ(Cluster().stats().retries.value(), 0u);
}

TEST_F(UpstreamRequestTest, CircuitBreakerRefusesBeyondMaxRequests) {
  Routes({"127.0.0.1:9"}, "circuit_breakers: {max_requests: 1}");
  Cluster().load().active_requests = 1;
  auto outcome = Request("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(*outcome);
  EXPECT_EQ(**outcome, Outcome::kLocalReply);
  EXPECT_EQ(ex_->reply_status, 503);
  EXPECT_EQ(ex_->flags, "UO");
  ASSERT_NE(ex_->reply_headers, nullptr);
  EXPECT_EQ(ex_->reply_headers->at(0).first, "x-berth-overloaded");
  EXPECT_EQ(Cluster().stats().circuit_open.value(), 1u);
  Cluster().load().active_requests = 0;
}

TEST_F(UpstreamRequestTest, SilentUpstreamTimesOutWith504) {
  Routes({"127.0.0.1:9"}, "timeouts: {request_ms: 1000}");
  Peer upstream = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  auto outcome = Request("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  upstream.Receive();
  loop_.Advance(std::chrono::milliseconds(999));
  EXPECT_FALSE(*outcome);
  loop_.Advance(std::chrono::milliseconds(2));
  ASSERT_TRUE(*outcome);
  EXPECT_EQ(**outcome, Outcome::kLocalReply);
  EXPECT_EQ(ex_->reply_status, 504);
  EXPECT_EQ(ex_->flags, "UT");
  EXPECT_EQ(Cluster().stats().timeouts.value(), 1u);
  EXPECT_TRUE(upstream.Closed());
}

TEST_F(UpstreamRequestTest, ExpectContinueIsAnsweredOnceTheUpstreamIsThere) {
  Routes({"127.0.0.1:9"});
  Peer upstream = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  auto outcome =
      Request("PUT /x HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(client_.Receive(), "HTTP/1.1 100 Continue\r\n\r\n");
  const std::string head = upstream.Receive();
  EXPECT_EQ(head.find("Expect"), std::string::npos) << head;
  ASSERT_TRUE(client_.Send("hello"));
  loop_.RunUntilIdle();
  EXPECT_EQ(upstream.Receive(), "hello");
  AnswerOk(upstream, outcome);
}

TEST_F(UpstreamRequestTest, MalformedBodyIsAnsweredWithoutTouchingAnUpstream) {
  Routes({"127.0.0.1:9"});
  Peer upstream = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  auto outcome =
      Request("POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  ASSERT_TRUE(*outcome);
  EXPECT_EQ(**outcome, Outcome::kLocalReply);
  EXPECT_EQ(ex_->reply_status, 400);
  EXPECT_TRUE(ex_->reply_close);
  EXPECT_EQ(upstream.Receive(), "");
  EXPECT_EQ(Cluster().hosts()[0]->idle.size(), 1u);
}

TEST_F(UpstreamRequestTest, UpstreamResetAfterPartOfTheAnswerClosesTheClient) {
  Routes({"127.0.0.1:9"});
  Peer upstream = loop_.AddPooledConnection("r#0", "127.0.0.1:9");
  auto outcome = Request("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
  upstream.Receive();
  ASSERT_TRUE(upstream.Send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart"));
  loop_.RunUntilIdle();
  upstream.Close();
  loop_.RunUntilIdle();
  ASSERT_TRUE(*outcome);
  EXPECT_EQ(**outcome, Outcome::kClose);
  EXPECT_EQ(ex_->flags, "UR");
  EXPECT_EQ(Cluster().load().open_connections, 0u);
}

TEST(UpstreamTargetTest, TargetsArePickedByWeight) {
  router::Route route;
  route.targets = {{"a", 1}, {"b", 3}};
  route.total_weight = 4;
  ScriptedRandom random({0, 1, 3, 4});
  EXPECT_EQ(ChooseTarget(route, random).cluster, "a");
  EXPECT_EQ(ChooseTarget(route, random).cluster, "b");
  EXPECT_EQ(ChooseTarget(route, random).cluster, "b");
  EXPECT_EQ(ChooseTarget(route, random).cluster, "a");  // 4 % 4
}

TEST(UpstreamTargetTest, HashInputFollowsThePolicy) {
  http::Parser parser(http::MessageKind::kRequest);
  ASSERT_TRUE(
      parser.Feed("GET / HTTP/1.1\r\nHost: h\r\nX-User: u1\r\nCookie: a=1; sid=s9\r\n\r\n"));
  router::Route route;
  EXPECT_FALSE(HashContext(route, parser.head(), "1.2.3.4").hash);
  route.hash = {router::HashPolicy::Kind::kHeader, "x-user"};
  EXPECT_EQ(HashContext(route, parser.head(), "1.2.3.4").hash, lb::HashKey("u1"));
  route.hash = {router::HashPolicy::Kind::kCookie, "sid"};
  EXPECT_EQ(HashContext(route, parser.head(), "1.2.3.4").hash, lb::HashKey("s9"));
  route.hash = {router::HashPolicy::Kind::kClientIp, ""};
  EXPECT_EQ(HashContext(route, parser.head(), "1.2.3.4").hash, lb::HashKey("1.2.3.4"));
}

}  // namespace
}  // namespace berth::gateway::server
