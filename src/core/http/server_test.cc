#include "core/http/server.h"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/http/parser.h"
#include "core/json.h"

namespace berth::http {
namespace {

// A raw blocking TCP client: tests speak bytes to the server and parse what comes back.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }

  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads one response; nullopt when the connection closes first. `pieces` receives each
  // body piece as it arrives (for streams).
  std::optional<Response> Read(std::string_view method = "GET",
                               std::vector<std::string>* pieces = nullptr) {
    Parser parser(MessageKind::kResponse);
    parser.SetRequestMethod(method);
    Response response;
    for (;;) {
      std::string_view in(buffer_);
      while (true) {
        auto step = parser.Feed(in);
        if (!step) {
          ADD_FAILURE() << "bad response: " << step.error().message;
          return std::nullopt;
        }
        in.remove_prefix(step->consumed);
        if (step->event == ParseEvent::kNeedMore) break;
        if (step->event == ParseEvent::kHead) FillResponse(parser.head(), &response);
        if (step->event == ParseEvent::kBody) {
          response.body.append(step->body);
          if (pieces) pieces->emplace_back(step->body);
        }
        if (step->event == ParseEvent::kComplete) {
          buffer_.erase(0, buffer_.size() - in.size());
          return response;
        }
      }
      buffer_.clear();
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) {
        auto fin = parser.Finish();
        if (fin && fin->event == ParseEvent::kComplete) return response;
        return std::nullopt;
      }
      buffer_.append(tmp, static_cast<size_t>(n));
    }
  }

  // True when the server closed the connection (after any buffered bytes).
  bool ReadsEof() {
    char tmp[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

std::string Get(std::string_view path, std::string_view extra = "") {
  return fmt::format("GET {} HTTP/1.1\r\nHost: t\r\n{}\r\n", path, extra);
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(Handler handler, ServerOptions options = {}) {
    options.address = "127.0.0.1:0";
    auto s = Server::Listen(options, std::move(handler));
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    server_->Start();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  std::unique_ptr<Server> server_;
};

Handler Echo() {
  return [](Request&& r, std::shared_ptr<ResponseWriter> w) {
    Response resp =
        Response::Text(200, r.method + " " + r.path + " q=" + r.query + " body=" + r.body);
    resp.headers.Add("X-Remote-Set", r.remote_address.empty() ? "no" : "yes");
    w->Send(std::move(resp));
  };
}

TEST_F(ServerTest, ListensOnPortZeroAndReportsAddress) {
  StartServer(Echo());
  EXPECT_NE(server_->port(), 0);
  EXPECT_EQ(server_->address(), fmt::format("127.0.0.1:{}", server_->port()));
}

TEST_F(ServerTest, RejectsBadListenAddress) {
  ServerOptions o;
  o.address = "not-an-address";
  EXPECT_FALSE(Server::Listen(o, Echo()));
  o.address = "256.1.1.1:80";
  EXPECT_FALSE(Server::Listen(o, Echo()));
}

TEST_F(ServerTest, ServesKeepAliveRequestsOnOneConnection) {
  StartServer(Echo());
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    c.Send(Get("/a%20b?x=" + std::to_string(i)));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET /a b q=x=" + std::to_string(i) + " body=");
    EXPECT_EQ(r->headers.Get("X-Remote-Set"), "yes");
  }
}

TEST_F(ServerTest, AnswersPipelinedRequestsInOrder) {
  StartServer(Echo());
  RawClient c(server_->port());
  c.Send(Get("/1") + "POST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + Get("/3"));
  auto r1 = c.Read();
  auto r2 = c.Read();
  auto r3 = c.Read();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->body, "GET /1 q= body=");
  EXPECT_EQ(r2->body, "POST /2 q= body=abc");
  EXPECT_EQ(r3->body, "GET /3 q= body=");
}

TEST_F(ServerTest, DecodesChunkedRequestBodies) {
  StartServer(Echo());
  RawClient c(server_->port());
  c.Send("PUT /k HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n");
  c.Send("5\r\npedia\r\n0\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "PUT /k q= body=Wikipedia");
}

TEST_F(ServerTest, ClosesAfterConnectionClose) {
  StartServer(Echo());
  RawClient c(server_->port());
  c.Send(Get("/", "Connection: close\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headers.Get("Connection"), "close");
  EXPECT_TRUE(c.ReadsEof());
}

TEST_F(ServerTest, Http10ClosesByDefault) {
  StartServer(Echo());
  RawClient c(server_->port());
  c.Send("GET /old HTTP/1.0\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(c.ReadsEof());
}

TEST_F(ServerTest, KeepsHttp10AliveWhenAsked) {
  StartServer(Echo());
  RawClient c(server_->port());
  for (int i = 0; i < 2; ++i) {
    c.Send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->headers.Get("Connection"), "keep-alive");
  }
}

TEST_F(ServerTest, HeadGetsNoBody) {
  StartServer(Echo());
  RawClient c(server_->port());
  c.Send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + Get("/after"));
  auto head = c.Read("HEAD");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->body, "");
  EXPECT_EQ(head->headers.Get("Content-Length"),
            std::to_string(std::string("HEAD /h q= body=").size()));
  auto next = c.Read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "GET /after q= body=");
}

TEST_F(ServerTest, SendsContinueForExpect) {
  StartServer(Echo());
  RawClient c(server_->port());
  c.Send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  auto cont = c.Read();
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  c.Send("hi");
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "POST /e q= body=hi");
}

// Each malformed or oversized request gets its status, a JSON error body, and a close.
struct Rejection {
  std::string wire;
  int status;
  std::string code;
};

TEST_F(ServerTest, AnswersLimitsAndMalformedRequestsWithJsonErrorsAndCloses) {
  ServerOptions o;
  o.max_request_line_bytes = 100;
  o.max_header_bytes = 400;
  o.max_headers = 5;
  o.max_body_bytes = 10;
  StartServer(Echo(), o);
  std::string many_headers = "GET / HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 6; ++i) many_headers += fmt::format("X-{}: v\r\n", i);
  std::vector<Rejection> cases = {
      {"GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414, "uri_too_long"},
      {"GET / HTTP/1.1\r\nHost: t\r\nBig: " + std::string(500, 'b') + "\r\n\r\n", 431,
       "header_fields_too_large"},
      {many_headers + "\r\n", 431, "header_fields_too_large"},
      {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n01234567890", 413,
       "payload_too_large"},
      {"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
       "chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
       413, "payload_too_large"},
      {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, "http_version_not_supported"},
      {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400, "invalid_argument"},
      {"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400, "invalid_argument"},
      {"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400, "invalid_argument"},
  };
  for (const auto& rc : cases) {
    SCOPED_TRACE(rc.wire.substr(0, 60));
    RawClient c(server_->port());
    c.Send(rc.wire);
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, rc.status);
    EXPECT_EQ(r->headers.Get("Content-Type"), "application/json");
    auto body = ParseJson(r->body);
    ASSERT_TRUE(body) << r->body;
    EXPECT_EQ((*body)["error"]["code"], rc.code);
    EXPECT_FALSE((*body)["error"]["message"].get<std::string>().empty());
    EXPECT_TRUE(c.ReadsEof());
  }
}

TEST_F(ServerTest, StreamsChunkedResponsesWrittenFromAnotherThread) {
  std::vector<std::thread> producers;
  std::mutex mu;
  StartServer([&](Request&&, std::shared_ptr<ResponseWriter> w) {
    Headers h;
    h.Add("Content-Type", "text/event-stream");
    w->StartStream(200, std::move(h));
    std::lock_guard lock(mu);
    producers.emplace_back([w] {
      for (int i = 0; i < 5; ++i) EXPECT_TRUE(w->Write("event " + std::to_string(i) + "\n"));
      w->End();
    });
  });
  RawClient c(server_->port());
  c.Send(Get("/watch"));
  std::vector<std::string> pieces;
  auto r = c.Read("GET", &pieces);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->headers.Get("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r->body, "event 0\nevent 1\nevent 2\nevent 3\nevent 4\n");
  // The connection stays usable after the stream ends.
  c.Send(Get("/again"));
  auto again = c.Read();
  ASSERT_TRUE(again);
  std::lock_guard lock(mu);
  for (auto& t : producers) t.join();
}

TEST_F(ServerTest, PipelinedRequestWaitsForTheStreamBeforeIt) {
  std::mutex mu;
  std::shared_ptr<ResponseWriter> stream;
  std::promise<void> streaming;
  StartServer([&](Request&& r, std::shared_ptr<ResponseWriter> w) {
    if (r.path == "/watch") {
      w->StartStream(200, {});
      w->Write("tick");
      std::lock_guard lock(mu);
      stream = w;
      streaming.set_value();
    } else {
      w->Send(Response::Text(200, "second"));
    }
  });
  RawClient c(server_->port());
  c.Send(Get("/watch") + Get("/next"));
  streaming.get_future().wait();
  {
    std::lock_guard lock(mu);
    stream->Write("tock");
    stream->End();
  }
  auto first = c.Read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "ticktock");
  auto second = c.Read();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "second");
}

TEST_F(ServerTest, OnCloseRegisteredAfterCloseRunsAtOnce) {
  std::promise<std::shared_ptr<ResponseWriter>> writer;
  StartServer([&](Request&&, std::shared_ptr<ResponseWriter> w) {
    w->StartStream(200, {});
    writer.set_value(w);
  });
  RawClient c(server_->port());
  c.Send(Get("/watch"));
  auto w = writer.get_future().get();
  c.Close();
  while (!w->Closed()) std::this_thread::yield();  // the server notices the hang-up
  std::promise<void> ran;
  w->OnClose([&ran] { ran.set_value(); });
  ran.get_future().wait();
}

TEST_F(ServerTest, RunsOnCloseWhenClientDisconnectsFromStream) {
  std::promise<void> closed;
  std::promise<std::shared_ptr<ResponseWriter>> writer;
  StartServer([&](Request&&, std::shared_ptr<ResponseWriter> w) {
    w->StartStream(200, {});
    w->OnClose([&closed] { closed.set_value(); });
    w->Write("first");
    writer.set_value(w);
  });
  RawClient c(server_->port());
  c.Send(Get("/watch"));
  auto w = writer.get_future().get();
  c.Close();
  closed.get_future().wait();
  EXPECT_TRUE(w->Closed());
  EXPECT_FALSE(w->Write("after close"));
}

TEST_F(ServerTest, StopClosesOpenStreamsAndRunsOnClose) {
  std::promise<void> closed;
  std::promise<void> started;
  std::shared_ptr<ResponseWriter> kept;
  StartServer([&](Request&&, std::shared_ptr<ResponseWriter> w) {
    w->StartStream(200, {});
    w->OnClose([&closed] { closed.set_value(); });
    kept = w;
    started.set_value();
  });
  RawClient c(server_->port());
  c.Send(Get("/watch"));
  started.get_future().wait();
  server_->Stop();
  closed.get_future().wait();
  EXPECT_TRUE(kept->Closed());
  // Writers that outlive the server are inert.
  EXPECT_FALSE(kept->Write("late"));
  bool late_ran = false;
  kept->OnClose([&late_ran] { late_ran = true; });  // no loop left: runs on this thread
  EXPECT_TRUE(late_ran);
  kept->End();
  kept.reset();
  server_->Stop();  // idempotent
}

TEST_F(ServerTest, HandlerThatDropsWriterGets500) {
  StartServer([](Request&&, std::shared_ptr<ResponseWriter>) {});
  RawClient c(server_->port());
  c.Send(Get("/"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST_F(ServerTest, HandlerThatThrowsGets500) {
  StartServer([](Request&&, std::shared_ptr<ResponseWriter>) { throw std::runtime_error("boom"); });
  RawClient c(server_->port());
  c.Send(Get("/"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST_F(ServerTest, AnswersLaterFromAnotherThread) {
  std::vector<std::thread> threads;
  std::mutex mu;
  StartServer([&](Request&& r, std::shared_ptr<ResponseWriter> w) {
    std::lock_guard lock(mu);
    threads.emplace_back([w, path = r.path] { w->Send(Response::Text(202, path)); });
  });
  RawClient c(server_->port());
  c.Send(Get("/late"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "/late");
  std::lock_guard lock(mu);
  for (auto& t : threads) t.join();
}

// ResponseWriter::Post: work handed from another thread runs on the connection's worker (the
// thread that ran the handler), and can answer from there.
TEST_F(ServerTest, PostedWorkRunsOnTheWorkerAndMayAnswer) {
  std::vector<std::thread> threads;
  std::mutex mu;
  std::thread::id handler_thread;
  std::promise<std::thread::id> posted_thread;
  StartServer([&](Request&& r, std::shared_ptr<ResponseWriter> w) {
    std::lock_guard lock(mu);
    handler_thread = std::this_thread::get_id();
    threads.emplace_back([&, w, path = r.path] {
      w->Post([&, w, path] {
        posted_thread.set_value(std::this_thread::get_id());
        w->Send(Response::Text(200, "posted " + path));
      });
    });
  });
  RawClient c(server_->port());
  c.Send(Get("/p"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "posted /p");
  auto ran_on = posted_thread.get_future().get();
  std::lock_guard lock(mu);
  EXPECT_EQ(ran_on, handler_thread);
  for (auto& t : threads) t.join();
}

// Posted work runs even when the client has gone (it may have more to do than answering,
// such as recording an audit entry).
TEST_F(ServerTest, PostedWorkRunsAfterTheClientHasGone) {
  std::promise<std::shared_ptr<ResponseWriter>> writer;
  StartServer([&](Request&&, std::shared_ptr<ResponseWriter> w) { writer.set_value(w); });
  RawClient c(server_->port());
  c.Send(Get("/gone"));
  auto w = writer.get_future().get();
  c.Close();
  while (!w->Closed()) std::this_thread::yield();
  std::promise<void> ran;
  w->Post([&ran] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
  w->Send(Response::Text(200, "too late"));  // dropped: nobody to send it to
}

TEST_F(ServerTest, ClosesIdleConnections) {
  ServerOptions o;
  o.idle_timeout_ms = 50;
  StartServer(Echo(), o);
  RawClient c(server_->port());
  c.Send(Get("/"));
  ASSERT_TRUE(c.Read());
  EXPECT_TRUE(c.ReadsEof());
}

TEST_F(ServerTest, AnswersSlowHeadWith408) {
  ServerOptions o;
  o.header_timeout_ms = 50;
  StartServer(Echo(), o);
  RawClient c(server_->port());
  c.Send("GET / HTTP/1.1\r\nHost: t\r\n");  // never finished
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(c.ReadsEof());
}

TEST_F(ServerTest, ServesManyClientsOnSeveralThreads) {
  ServerOptions o;
  o.threads = 2;
  StartServer(Echo(), o);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      RawClient c(server_->port());
      for (int i = 0; i < 20; ++i) {
        std::string path = fmt::format("/c{}/{}", t, i);
        c.Send(Get(path));
        auto r = c.Read();
        if (r && r->body == "GET " + path + " q= body=") ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(ServerTest, StopBeforeStartIsFine) {
  ServerOptions o;
  o.address = "127.0.0.1:0";
  auto s = Server::Listen(o, Echo());
  ASSERT_TRUE(s);
  (*s)->Stop();
}

}  // namespace
}  // namespace berth::http
