#include "agent/logship/shipper.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "core/http/server.h"
#include "core/json.h"

namespace berth::agent::logship {
namespace {

// A log center stand-in: stores pushed lines once per (source, batch), as the real one does;
// can be told to fail, or to store and then answer 503 (an answer lost on the way).
class FakeLogCenter {
 public:
  FakeLogCenter() {
    auto s = http::Server::Listen(
        {.address = "127.0.0.1:0"},
        [this](http::Request&& req, std::shared_ptr<http::ResponseWriter> w) {
          std::lock_guard lock(mu_);
          if (down_) return w->Send(http::Response::Text(503, "down"));
          std::string key = std::string(req.headers.Get("X-Berth-Source").value_or("")) + "/" +
                            std::string(req.headers.Get("X-Berth-Batch").value_or(""));
          if (!seen_.contains(key)) {
            seen_.insert(key);
            auto j = ParseJson(req.body, {.max_bytes = req.body.size() + 1});
            for (const auto& s : (*j)["streams"]) {
              for (const auto& v : s["values"]) {
                lines_.push_back(s["stream"]["stream"].get<std::string>() + ":" +
                                 v[1].get<std::string>());
                labels_ = s["stream"];
              }
            }
          }
          if (lose_next_answer_) {
            lose_next_answer_ = false;
            return w->Send(http::Response::Text(503, "answer lost"));
          }
          http::Response r;
          r.status = 204;
          w->Send(std::move(r));
        });
    server_ = std::move(*s);
    server_->Start();
  }
  ~FakeLogCenter() { server_->Stop(); }
  std::string url() const { return "http://" + server_->address(); }
  void SetDown(bool d) {
    std::lock_guard lock(mu_);
    down_ = d;
  }
  void LoseNextAnswer() {
    std::lock_guard lock(mu_);
    lose_next_answer_ = true;
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  Json labels() {
    std::lock_guard lock(mu_);
    return labels_;
  }

 private:
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  bool down_ = false;
  bool lose_next_answer_ = false;
  std::set<std::string> seen_;
  std::vector<std::string> lines_;
  Json labels_;
};

class ShipperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-logship-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::filesystem::create_directories(dir_ + "/c1");
    log_ = dir_ + "/c1/container.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A line as the shim writes it, stamped with the test clock's wall time.
  void Write(const std::string& stream, const std::string& text) {
    int64_t ns = clock_.WallMillis() * 1'000'000 + n_++;
    time_t secs = static_cast<time_t>(ns / 1'000'000'000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    std::ofstream out(log_, std::ios::app);
    out << fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z {} F {}\n", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       ns % 1'000'000'000, stream, text);
  }
  std::unique_ptr<LogShipper> Shipper(size_t batch_bytes = 4096, uint64_t spool_max = 64 << 20) {
    ShipperOptions o;
    o.server = center_.url();
    o.token = "t";
    o.source = "node/n1";
    o.state_dir = dir_ + "/state";
    o.batch_bytes = batch_bytes;
    o.spool_max_bytes = spool_max;
    o.threads = false;
    auto s = LogShipper::Start(
        o,
        [this] {
          return std::vector<ShippedContainer>{
              {"c1", log_, {{"namespace", "shop"}, {"app", "api"}, {"instance", "api-1"}}}};
        },
        clock_);
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }

  std::string dir_, log_;
  int64_t n_ = 0;
  ManualClock clock_;
  FakeLogCenter center_;
};

TEST_F(ShipperTest, EveryLineArrivesOnceAcrossACrashWithATracePendingOnStderr) {
  for (int i = 0; i < 300; ++i) Write("stdout", fmt::format("out {}", i));
  Write("stderr", "Exception in thread \"main\" java.lang.IllegalStateException: boom");
  Write("stderr", "\tat com.shop.Cart.add(Cart.java:42)");
  for (int i = 300; i < 600; ++i) Write("stdout", fmt::format("out {}", i));
  {
    auto s = Shipper();
    ASSERT_TRUE(s->ReadPass());  // the trace is still pending: it may continue
    ASSERT_TRUE(s->SendPass());
  }  // the shipper dies here as after SIGKILL: no cursor is saved on the way out
  Write("stderr", "\tat com.shop.Main.main(Main.java:7)");
  for (int i = 600; i < 900; ++i) Write("stdout", fmt::format("out {}", i));
  auto s = Shipper();
  ASSERT_TRUE(s->ReadPass(true));
  ASSERT_TRUE(s->SendPass());
  auto lines = center_.lines();
  std::multiset<std::string> all(lines.begin(), lines.end());
  EXPECT_EQ(all.size(), 901u);
  for (int i = 0; i < 900; ++i) EXPECT_EQ(all.count(fmt::format("stdout:out {}", i)), 1u) << i;
  EXPECT_EQ(all.count("stderr:Exception in thread \"main\" java.lang.IllegalStateException: boom\n"
                      "\tat com.shop.Cart.add(Cart.java:42)\n\tat com.shop.Main.main(Main.java:7)"),
            1u);
  EXPECT_EQ(center_.labels()["app"], "api");
}

TEST_F(ShipperTest, ABatchWhoseAnswerWasLostIsSentAgainUnderItsNumber) {
  for (int i = 0; i < 100; ++i) Write("stdout", fmt::format("line {}", i));
  auto s = Shipper();
  ASSERT_TRUE(s->ReadPass(true));
  center_.LoseNextAnswer();
  EXPECT_FALSE(s->SendPass());
  ASSERT_TRUE(s->SendPass());
  EXPECT_EQ(center_.lines().size(), 100u);
}

TEST_F(ShipperTest, FollowsRotationAndKeepsOrder) {
  for (int i = 0; i < 50; ++i) Write("stdout", fmt::format("a {}", i));
  auto s = Shipper();
  ASSERT_TRUE(s->ReadPass(true));
  for (int i = 50; i < 80; ++i) Write("stdout", fmt::format("a {}", i));
  std::filesystem::rename(log_, log_ + ".1");  // the shim's rotation
  for (int i = 80; i < 120; ++i) Write("stdout", fmt::format("a {}", i));
  ASSERT_TRUE(s->ReadPass(true));
  ASSERT_TRUE(s->SendPass());
  auto lines = center_.lines();
  ASSERT_EQ(lines.size(), 120u);
  for (int i = 0; i < 120; ++i) EXPECT_EQ(lines[i], fmt::format("stdout:a {}", i));
}

TEST_F(ShipperTest, TheSpoolIsBoundedWhileTheLogCenterIsDownAndDrainsAfter) {
  center_.SetDown(true);
  auto s = Shipper(2048, 16 * 1024);
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 50; ++i)
      Write("stdout", fmt::format("r{} line {} with some padding to fill batches", round, i));
    ASSERT_TRUE(s->ReadPass(true));
    EXPECT_FALSE(s->SendPass());
    EXPECT_LE(s->stats().spool_bytes, 16u * 1024 + 4096) << round;
  }
  center_.SetDown(false);
  // Catch up: send what is spooled, read what waited, until nothing is left.
  for (int i = 0; i < 100 && center_.lines().size() < 1000; ++i) {
    ASSERT_TRUE(s->SendPass());
    ASSERT_TRUE(s->ReadPass(true));
  }
  EXPECT_EQ(center_.lines().size(), 1000u);
  EXPECT_EQ(s->stats().lost_files, 0u);
}

}  // namespace
}  // namespace berth::agent::logship
