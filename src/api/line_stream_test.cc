#include "api/line_stream.h"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <string>
#include <vector>

namespace berth::api {
namespace {

// A response writer that records what is written; the test plays the client going away.
class FakeWriter final : public http::ResponseWriter {
 public:
  void Send(http::Response) override { ADD_FAILURE() << "a stream sends no whole response"; }
  void StartStream(int status, http::Headers) override { started = status; }
  bool Write(std::string chunk) override {
    if (closed) return false;
    chunks.push_back(std::move(chunk));
    return true;
  }
  void End() override { ++ends; }
  bool Closed() const override { return closed; }
  void OnClose(std::function<void()> callback) override {
    if (closed) return callback();
    on_close = std::move(callback);
  }
  // The client goes: the connection runs its close callback once.
  void Close() {
    closed = true;
    if (auto c = std::move(on_close)) c();
  }

  int started = 0;
  std::vector<std::string> chunks;
  int ends = 0;
  bool closed = false;
  std::function<void()> on_close;
};

struct Fixture {
  std::shared_ptr<LineStream> Start() {
    auto call = std::make_shared<Call>(http::Request{}, writer, security::Principal{},
                                       std::map<std::string, std::string>{}, nullptr);
    return LineStream::Start(call, io);
  }
  asio::io_context io;
  std::shared_ptr<FakeWriter> writer = std::make_shared<FakeWriter>();
};

TEST(LineStream, WritesLinesUntilTheClientGoesThenCancelsTheFeedOnTheIoContext) {
  Fixture f;
  auto s = f.Start();
  EXPECT_EQ(f.writer->started, 200);
  int canceled = 0;
  s->SetFeed([&] { ++canceled; });
  EXPECT_TRUE(s->Write(Json{{"type", "put"}}));
  ASSERT_EQ(f.writer->chunks, std::vector<std::string>{"{\"type\":\"put\"}\n"});
  f.writer->Close();
  EXPECT_FALSE(s->Write(Json{{"type", "delete"}}));
  EXPECT_EQ(f.writer->chunks.size(), 1u);
  EXPECT_EQ(canceled, 0);  // not on the connection's thread
  f.io.run();
  EXPECT_EQ(canceled, 1);
}

TEST(LineStream, AFeedSetAfterTheClientWentIsCanceledAtOnce) {
  Fixture f;
  auto s = f.Start();
  f.writer->Close();
  int canceled = 0;
  s->SetFeed([&] { ++canceled; });
  f.io.run();
  EXPECT_EQ(canceled, 1);
}

TEST(LineStream, EndWritesTheLastLineOnceAndNothingAfterIt) {
  Fixture f;
  auto s = f.Start();
  s->EndWithError(Error(ErrorCode::kCompacted, "gone"));
  s->End(Json{{"type", "again"}});
  EXPECT_FALSE(s->Write(Json{{"type", "put"}}));
  ASSERT_EQ(f.writer->chunks.size(), 1u);
  EXPECT_NE(f.writer->chunks[0].find(R"("message":"gone")"), std::string::npos)
      << f.writer->chunks[0];
  EXPECT_EQ(f.writer->ends, 1);
}

TEST(LineStream, KeepAliveWritesProgressLinesUntilTheClientGoes) {
  Fixture f;
  auto s = f.Start();
  int n = 0;
  s->KeepAlive(std::chrono::milliseconds(1), [&] { return Json{{"progress", ++n}}; });
  while (f.writer->chunks.size() < 3) f.io.run_one();
  f.writer->Close();
  s.reset();
  f.io.run();  // returns: the timer was canceled, nothing is armed again
  EXPECT_EQ(f.writer->chunks.size(), 3u);
  EXPECT_EQ(f.writer->chunks[2], "{\"progress\":3}\n");
}

TEST(WatchEndedJson, NamesCompactionOrTheStoresReason) {
  EXPECT_EQ(WatchEndedJson(true, 42, "")["error"]["code"], "compacted");
  EXPECT_EQ(WatchEndedJson(true, 42, "")["error"]["compact_revision"], 42);
  Json j = WatchEndedJson(false, 0, "store closed");
  EXPECT_EQ(j["error"]["code"], "unavailable");
  EXPECT_EQ(j["error"]["message"], "store closed");
}

}  // namespace
}  // namespace berth::api
