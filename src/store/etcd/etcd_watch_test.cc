// Unit tests of the etcd store's watch resume logic against a scripted fake gateway: what
// the store asks for after a disconnect, and what it delivers (no loss, no duplicates).
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "core/json.h"
#include "store/etcd/etcd_store.h"
#include "store/etcd/internal/codec.h"

namespace berth::store {
namespace {

using namespace std::chrono_literals;
using etcd_internal::Base64Encode;

// One scripted watch stream: lines sent in order, then either the stream ends (the member
// went away) or it holds until the store shuts the connection.
struct Script {
  int status = 200;
  std::vector<std::string> lines;
  bool hold = false;
};

class FakeGateway {
 public:
  void Add(Script s) {
    std::lock_guard lock(mu_);
    scripts_.push_back(std::move(s));
  }
  // Bodies of every watch create request, with the endpoint it went to.
  std::vector<std::pair<std::string, Json>> creates() const {
    std::lock_guard lock(mu_);
    return creates_;
  }
  bool WaitForCreates(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 30s, [&] { return creates_.size() >= n; });
  }

  etcd_internal::ConnectionFactory Factory();

 private:
  friend class FakeConnection;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Script> scripts_;                         // guarded by mu_
  std::vector<std::pair<std::string, Json>> creates_;  // guarded by mu_
};

class FakeConnection final : public etcd_internal::Connection {
 public:
  FakeConnection(FakeGateway* gateway, std::string endpoint)
      : gateway_(gateway), endpoint_(std::move(endpoint)) {}

  Result<etcd_internal::HttpReply> Post(std::string_view path, std::string body) override {
    if (path == "/v3/kv/range") {
      return etcd_internal::HttpReply{200, R"({"header":{"revision":"10"}})"};
    }
    return etcd_internal::HttpReply{404, "{}"};
  }

  Result<void> PostStream(std::string_view path, std::string body,
                          const std::function<void(int)>& on_status,
                          const std::function<bool(std::string_view)>& on_data) override {
    Script script;
    {
      std::unique_lock lock(gateway_->mu_);
      gateway_->creates_.emplace_back(endpoint_, Json::parse(body));
      gateway_->cv_.notify_all();
      if (gateway_->scripts_.empty()) {
        script.hold = true;  // nothing scripted: an idle stream
      } else {
        script = std::move(gateway_->scripts_.front());
        gateway_->scripts_.pop_front();
      }
    }
    on_status(script.status);
    for (const auto& line : script.lines) {
      // Split each message in two pieces to exercise reassembly.
      std::string data = line + "\n";
      size_t half = data.size() / 2;
      if (!on_data(std::string_view(data).substr(0, half))) return {};
      if (!on_data(std::string_view(data).substr(half))) return {};
    }
    if (script.hold) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return shutdown_; });
      return Fail(ErrorCode::kUnavailable, "shut down");
    }
    return Fail(ErrorCode::kUnavailable, "connection reset by fake");
  }

  void Shutdown() override {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    cv_.notify_all();
  }

 private:
  FakeGateway* gateway_;
  std::string endpoint_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_ = false;
};

etcd_internal::ConnectionFactory FakeGateway::Factory() {
  return [this](const std::string& endpoint, const etcd_internal::ConnectionOptions&)
             -> Result<std::unique_ptr<etcd_internal::Connection>> {
    return std::unique_ptr<etcd_internal::Connection>(new FakeConnection(this, endpoint));
  };
}

std::string Created(int64_t rev) {
  return fmt::format(R"({{"result":{{"header":{{"revision":"{}"}},"created":true}}}})", rev);
}

std::string Events(std::vector<std::pair<std::string, int64_t>> events, int64_t header_rev) {
  Json list = Json::array();
  for (const auto& [key, rev] : events) {
    list.push_back({{"kv",
                     {{"key", Base64Encode(key)},
                      {"value", Base64Encode("v")},
                      {"create_revision", std::to_string(rev)},
                      {"mod_revision", std::to_string(rev)},
                      {"version", "1"}}}});
  }
  Json msg = {
      {"result", {{"header", {{"revision", std::to_string(header_rev)}}}, {"events", list}}}};
  return msg.dump();
}

struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<WatchResponse> responses;
  WatchCallback Callback() {
    return [this](WatchResponse&& r) {
      std::lock_guard lock(mu);
      responses.push_back(std::move(r));
      cv.notify_all();
    };
  }
  bool WaitFor(const std::function<bool(const std::vector<WatchResponse>&)>& pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 30s, [&] { return pred(responses); });
  }
  std::vector<int64_t> Revisions() {
    std::lock_guard lock(mu);
    std::vector<int64_t> out;
    for (const auto& r : responses) {
      for (const auto& e : r.events) out.push_back(e.kv.mod_revision);
    }
    return out;
  }
};

size_t EventCount(const std::vector<WatchResponse>& rs) {
  size_t n = 0;
  for (const auto& r : rs) n += r.events.size();
  return n;
}

class EtcdWatchTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open() {
    EtcdOptions options;
    options.connection_factory = gateway_.Factory();
    options.watch_retry_initial = 1ms;
    options.watch_retry_max = 5ms;
    auto store = OpenEtcdStore({"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, options);
    EXPECT_TRUE(store.has_value());
    return store ? std::move(*store) : nullptr;
  }
  FakeGateway gateway_;
};

TEST_F(EtcdWatchTest, FromNowStartsAtTheNextRevision) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Recorder rec;
  auto w = store->Watch("/a", {}, rec.Callback());
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(gateway_.WaitForCreates(1));
  auto create = gateway_.creates()[0].second["create_request"];
  EXPECT_EQ(create["start_revision"], 11);  // the fake's current revision is 10
  EXPECT_EQ(create["key"], Base64Encode("/a"));
  EXPECT_FALSE(create.contains("range_end"));
}

TEST_F(EtcdWatchTest, ResumesOnTheNextMemberAfterTheLastDeliveredRevisionAndDropsReplays) {
  gateway_.Add({200, {Created(10), Events({{"/p/a", 11}, {"/p/b", 12}}, 12)}, false});
  // The next member replays 12 (as if asked from too early) and goes on with 13 and 14.
  gateway_.Add({200,
                {Created(12), Events({{"/p/b", 12}, {"/p/c", 13}}, 13), Events({{"/p/d", 14}}, 14)},
                false});
  gateway_.Add({200, {Created(14)}, true});
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Recorder rec;
  auto w = store->Watch("/p/", WatchOptions{.prefix = true, .start_revision = 11}, rec.Callback());
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(rec.WaitFor([](const auto& rs) { return EventCount(rs) >= 4; }));
  ASSERT_TRUE(gateway_.WaitForCreates(3));
  (*w)->Cancel();
  EXPECT_EQ(rec.Revisions(), (std::vector<int64_t>{11, 12, 13, 14}));
  auto creates = gateway_.creates();
  ASSERT_EQ(creates.size(), 3u);
  EXPECT_EQ(creates[0].second["create_request"]["start_revision"], 11);
  EXPECT_EQ(creates[1].second["create_request"]["start_revision"], 13);
  EXPECT_EQ(creates[2].second["create_request"]["start_revision"], 15);
  EXPECT_EQ(creates[0].second["create_request"]["range_end"], Base64Encode("/p0"));
  // Each resume goes to the next member.
  EXPECT_EQ(creates[0].first, "http://127.0.0.1:1");
  EXPECT_EQ(creates[1].first, "http://127.0.0.1:2");
  EXPECT_EQ(creates[2].first, "http://127.0.0.1:3");
}

TEST_F(EtcdWatchTest, StreamErrorsAndBadStatusesReconnect) {
  gateway_.Add(
      {200, {Created(10), R"({"error":{"grpc_code":14,"message":"transport closing"}})"}, false});
  gateway_.Add({503, {R"({"error":"etcdserver: no leader","code":14})"}, false});
  gateway_.Add({200, {Created(10), Events({{"/k", 11}}, 11)}, true});
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Recorder rec;
  auto w = store->Watch("/k", WatchOptions{.start_revision = 11}, rec.Callback());
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(rec.WaitFor([](const auto& rs) { return EventCount(rs) >= 1; }));
  (*w)->Cancel();
  EXPECT_EQ(rec.Revisions(), (std::vector<int64_t>{11}));
  auto creates = gateway_.creates();
  ASSERT_EQ(creates.size(), 3u);
  for (const auto& c : creates) EXPECT_EQ(c.second["create_request"]["start_revision"], 11);
}

TEST_F(EtcdWatchTest, CompactionDuringAResumeEndsTheWatchWithCompacted) {
  gateway_.Add({200, {Created(10), Events({{"/k", 11}}, 11)}, false});
  gateway_.Add(
      {200,
       {Created(30),
        R"({"result":{"header":{"revision":"30"},"canceled":true,"compact_revision":"20"}})"},
       true});
  auto store = Open();
  ASSERT_NE(store, nullptr);
  Recorder rec;
  auto w = store->Watch("/k", WatchOptions{.start_revision = 11}, rec.Callback());
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(rec.WaitFor([](const auto& rs) { return !rs.empty() && rs.back().compacted; }));
  (*w)->Cancel();  // joins the watch thread: nothing else can happen after this
  std::lock_guard lock(rec.mu);
  ASSERT_EQ(rec.responses.size(), 2u);
  EXPECT_EQ(rec.responses[0].events.size(), 1u);
  EXPECT_TRUE(rec.responses[1].compacted);
  EXPECT_EQ(rec.responses[1].compact_revision, 20);
  EXPECT_EQ(gateway_.creates().size(), 2u) << "a compacted watch is not resumed";
}

TEST_F(EtcdWatchTest, CancelFromInsideTheCallbackStopsTheWatch) {
  gateway_.Add({200, {Created(10), Events({{"/k", 11}}, 11), Events({{"/k", 12}}, 12)}, true});
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  std::unique_ptr<Watcher> watcher;
  int calls = 0;
  auto w = store->Watch("/k", WatchOptions{.start_revision = 11}, [&](WatchResponse&&) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return watcher != nullptr; });
    ++calls;
    watcher->Cancel();
    cv.notify_all();
  });
  ASSERT_TRUE(w.has_value());
  {
    std::lock_guard lock(mu);
    watcher = std::move(*w);
    cv.notify_all();
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return calls >= 1; }));
  }
  watcher->Cancel();  // from the test thread too: joins
  std::lock_guard lock(mu);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace berth::store
