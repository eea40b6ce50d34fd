#include "logs/log_store.h"

#include <gmock/gmock.h>
#include <stdlib.h>

#include <gtest/gtest.h>
#include <filesystem>

#include "logs/testing/mem_env.h"

namespace berth::logs {
namespace {

using ::testing::HasSubstr;

class LogStoreTest : public ::testing::Test {
 protected:
  LogStoreOptions Options() {
    LogStoreOptions o;
    o.dir = "/data/logs";
    o.background = false;
    o.chunk_target_bytes = 4096;
    return o;
  }
  void Open(LogStoreOptions o) {
    store_.reset();
    auto s = LogStore::Open(std::move(o), env_, clock_);
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  int64_t Now() const { return clock_.WallMillis() * 1'000'000; }
  static LabelSet Labels(std::string_view text) { return *LabelSet::Parse(text); }

  PushResult Push(std::string_view labels, int n, int64_t start, const std::string& prefix = "line",
                  bool noise = false) {
    PushRequest req;
    PushStream ps{Labels(labels), {}};
    for (int i = 0; i < n; ++i) {
      std::string line = prefix + " " + std::to_string(i);
      if (noise)
        line += " " + std::to_string(rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull);
      ps.entries.push_back({start + i, line});
    }
    req.streams.push_back(std::move(ps));
    auto r = store_->Push(std::move(req));
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : PushResult{};
  }

  // Every line of the streams `selector` matches, oldest first.
  std::vector<std::string> Lines(std::vector<LabelMatcher> matchers) {
    std::vector<std::pair<int64_t, std::string>> all;
    for (const auto& ref : store_->Select(matchers, nullptr)) {
      auto snap = store_->Snapshot(ref, INT64_MIN, INT64_MAX);
      for (const auto& m : snap.chunks) {
        auto c = store_->ReadChunk(ref.ns, m);
        EXPECT_TRUE(c) << c.error().message;
        if (!c) continue;
        for (size_t i = 0; i < c->size(); ++i) all.emplace_back(c->ts[i], std::string(c->Line(i)));
      }
      for (const auto& h : snap.heads) {
        for (size_t i = 0; i < h.size(); ++i) all.emplace_back(h.ts[i], std::string(h.Line(i)));
      }
    }
    std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first < b.first; });
    std::vector<std::string> out;
    for (auto& [ts, line] : all) out.push_back(line);
    return out;
  }
  static LabelMatcher Eq(std::string name, std::string value) {
    return *LabelMatcher::Make(std::move(name), MatchOp::kEq, std::move(value));
  }

  testing::MemEnv env_;
  ManualClock clock_;
  uint64_t rng_ = 1;
  std::unique_ptr<LogStore> store_;
};

TEST_F(LogStoreTest, PushedLinesAreQueryableFromMemoryAndAfterReopen) {
  Open(Options());
  for (int i = 0; i < 5; ++i) {
    auto r = Push(R"({app="api", namespace="shop"})", 100, Now() + i * 100, "line", true);
    EXPECT_EQ(r.accepted, 100u);
  }
  auto lines = Lines({Eq("app", "api")});
  ASSERT_EQ(lines.size(), 500u);
  EXPECT_TRUE(lines.front().starts_with("line 0 "));
  ASSERT_TRUE(store_->Flush());
  EXPECT_GT(store_->Stats().chunks, 1u);  // 4 KiB chunks
  EXPECT_EQ(store_->Stats().entries, 500u);
  Open(Options());
  EXPECT_EQ(Lines({Eq("app", "api")}).size(), 500u);
  EXPECT_EQ(store_->Namespaces(), std::vector<std::string>{"shop"});
}

TEST_F(LogStoreTest, StreamsWithoutNamespaceGoToTheDefaultOneAndAreLabelledSo) {
  Open(Options());
  Push(R"({app="api"})", 3, Now());
  auto refs = store_->Select({Eq("namespace", "default")}, nullptr);
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].labels.Canonical(), R"({app="api", namespace="default"})");
}

TEST_F(LogStoreTest, AcknowledgedPushesSurviveACrashBeforeAnyFlush) {
  auto o = Options();
  o.chunk_target_bytes = 1 << 20;  // everything stays in the head
  Open(o);
  Push(R"({app="api"})", 100, Now());
  env_.Crash();  // drops all that was not synced; the store object is abandoned
  auto abandoned = std::move(store_);
  (void)abandoned.release();  // as after SIGKILL: no destructor, no flush
  Open(o);
  EXPECT_EQ(Lines({Eq("app", "api")}).size(), 100u);
}

TEST_F(LogStoreTest, ReplayAfterAFlushDoesNotDuplicateEntries) {
  Open(Options());
  Push(R"({app="api"})", 300, Now());
  ASSERT_TRUE(store_->Flush());
  Push(R"({app="api"})", 10, Now() + 1000, "late");
  env_.Crash();
  (void)store_.release();
  Open(Options());
  auto lines = Lines({Eq("app", "api")});
  EXPECT_EQ(lines.size(), 310u);
}

TEST_F(LogStoreTest, OutOfOrderEntriesInsideTheWindowAreAcceptedAndSorted) {
  auto o = Options();
  o.out_of_order_window_ns = 60'000'000'000;
  Open(o);
  int64_t t = Now();
  Push(R"({app="api"})", 1, t, "new");
  Push(R"({app="api"})", 1, t - 30'000'000'000, "30s older");
  auto r = Push(R"({app="api"})", 1, t - 90'000'000'000, "90s older");
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_EQ(r.rejected, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, HasSubstr("too far out of order: more than 60s before"));
  EXPECT_EQ(Lines({Eq("app", "api")}), (std::vector<std::string>{"30s older 0", "new 0"}));
}

TEST_F(LogStoreTest, TheStreamLimitNamesTheLabelThatExplodes) {
  auto o = Options();
  o.namespace_limits["shop"].max_streams = 5;
  Open(o);
  for (int i = 0; i < 5; ++i) {
    auto r =
        Push(R"({app="api", namespace="shop", request_id=")" + std::to_string(i) + "\"}", 1, Now());
    EXPECT_EQ(r.accepted, 1u);
  }
  auto r = Push(R"({app="api", namespace="shop", request_id="99"})", 3, Now());
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_EQ(r.rejected, 3u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(r.errors[0].message, HasSubstr("namespace shop has reached its limit of 5 streams"));
  EXPECT_THAT(r.errors[0].message, HasSubstr("Label \"request_id\" has 5 values"));
  // Existing streams still take writes; other namespaces are not limited.
  EXPECT_EQ(Push(R"({app="api", namespace="shop", request_id="1"})", 1, Now() + 1).accepted, 1u);
  EXPECT_EQ(Push(R"({app="api", namespace="other"})", 1, Now()).accepted, 1u);
}

TEST_F(LogStoreTest, OverlongFutureAndExpiredEntriesAreRefusedOthersKept) {
  auto o = Options();
  o.max_line_bytes = 10;
  o.default_limits.retention_ms = 3600'000;
  Open(o);
  PushRequest req;
  PushStream ps{Labels(R"({app="x"})"), {}};
  ps.entries.push_back({Now(), "short"});
  ps.entries.push_back({Now(), "this line is too long"});
  ps.entries.push_back({Now() + 3600'000'000'000, "future"});
  ps.entries.push_back({Now() - 7200'000'000'000, "expired"});
  req.streams.push_back(std::move(ps));
  auto r = store_->Push(std::move(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_EQ(r->rejected, 3u);
  std::string all;
  for (const auto& e : r->errors) all += e.message + "\n";
  EXPECT_THAT(all, HasSubstr("21 bytes, over the limit of 10"));
  EXPECT_THAT(all, HasSubstr("ahead of this server's clock"));
  EXPECT_THAT(all, HasSubstr("older than namespace default's retention of 1h"));
}

TEST_F(LogStoreTest, ARepeatedBatchIsAcknowledgedButStoredOnce) {
  Open(Options());
  auto send = [&](uint64_t seq) {
    PushRequest req;
    req.source = "node1/c1";
    req.seq = seq;
    req.streams.push_back({Labels(R"({app="a"})"),
                           {{Now() + static_cast<int64_t>(seq), "batch " + std::to_string(seq)}}});
    return *store_->Push(std::move(req));
  };
  EXPECT_FALSE(send(1).duplicate);
  EXPECT_TRUE(send(1).duplicate);
  EXPECT_FALSE(send(2).duplicate);
  ASSERT_TRUE(store_->Flush());
  Open(Options());  // the batch numbers outlive a restart
  EXPECT_TRUE(send(2).duplicate);
  EXPECT_EQ(Lines({Eq("app", "a")}).size(), 2u);
}

TEST_F(LogStoreTest, RetentionByAgeDropsOldSegmentsAndTheirStreams) {
  auto o = Options();
  o.default_limits.retention_ms = 3600'000;
  o.segment_max_age_ms = 60'000;
  Open(o);
  Push(R"({app="old"})", 50, Now());
  ASSERT_TRUE(store_->Flush());
  clock_.Advance(std::chrono::minutes(2));
  store_->Tick();  // seals the segment (older than a minute)
  Push(R"({app="new"})", 50, Now());
  ASSERT_TRUE(store_->Flush());
  clock_.Advance(std::chrono::minutes(59));
  store_->Tick();
  EXPECT_TRUE(Lines({Eq("app", "old")}).empty());
  EXPECT_EQ(Lines({Eq("app", "new")}).size(), 50u);
  EXPECT_EQ(store_->LabelValues("app", nullptr), std::vector<std::string>{"new"});
  Open(o);  // and the drop is on disk
  EXPECT_EQ(store_->LabelValues("app", nullptr), std::vector<std::string>{"new"});
  EXPECT_EQ(Lines({Eq("app", "new")}).size(), 50u);
}

TEST_F(LogStoreTest, RetentionBySizeKeepsANamespaceUnderItsLimit) {
  auto o = Options();
  o.segment_target_bytes = 2000;
  o.namespace_limits["big"].max_bytes = 8000;
  Open(o);
  for (int round = 0; round < 20; ++round) {
    Push(R"({app="a", namespace="big"})", 200, Now() + round * 1000,
         "round" + std::to_string(round) + " x", true);
    Push(R"({app="a", namespace="small"})", 200, Now() + round * 1000,
         "round" + std::to_string(round) + " x", true);
    ASSERT_TRUE(store_->Flush());
    store_->Tick();
  }
  auto lines_big = Lines({Eq("namespace", "big")});
  auto lines_small = Lines({Eq("namespace", "small")});
  EXPECT_EQ(lines_small.size(), 4000u);
  EXPECT_LT(lines_big.size(), 4000u);
  ASSERT_FALSE(lines_big.empty());
  EXPECT_TRUE(lines_big.back().starts_with("round19 x 199 "));  // the newest stay
  EXPECT_TRUE(lines_small.front().starts_with("round0 x 0 "));
}

TEST_F(LogStoreTest, ADiskFullDuringFlushLosesNothingAndRecovers) {
  Open(Options());
  Push(R"({app="api"})", 100, Now());
  env_.FailWritesAfter(0);
  auto flushed = store_->Flush();
  EXPECT_FALSE(flushed);
  EXPECT_EQ(Lines({Eq("app", "api")}).size(), 100u);  // still served from memory
  env_.FailWritesAfter(-1);
  ASSERT_TRUE(store_->Flush());
  Open(Options());
  EXPECT_EQ(Lines({Eq("app", "api")}).size(), 100u);
}

TEST_F(LogStoreTest, AFailedWalWriteRefusesThePushWholeAndLaterPushesWork) {
  Open(Options());
  env_.FailWritesAfter(0);
  PushRequest req;
  req.streams.push_back({Labels(R"({app="api"})"), {{Now(), "lost?"}}});
  auto r = store_->Push(std::move(req));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(Lines({Eq("app", "api")}).empty());
  env_.FailWritesAfter(-1);
  Push(R"({app="api"})", 2, Now());
  Open(Options());
  EXPECT_EQ(Lines({Eq("app", "api")}).size(), 2u);
}

TEST_F(LogStoreTest, ATornSegmentTailIsCutAndTheWalRefillsIt) {
  Open(Options());
  Push(R"({app="api"})", 400, Now());
  // Crash without a clean close: the active segment has no index, the WAL still holds all.
  env_.Crash();
  (void)store_.release();
  Open(Options());
  EXPECT_EQ(Lines({Eq("app", "api")}).size(), 400u);
}

TEST_F(LogStoreTest, SelectUsesEveryMatcher) {
  Open(Options());
  Push(R"({app="api", env="prod"})", 1, Now());
  Push(R"({app="api", env="dev"})", 1, Now());
  Push(R"({app="web", env="prod"})", 1, Now());
  auto re = *LabelMatcher::Make("env", MatchOp::kNre, "d.*");
  auto refs = store_->Select({Eq("app", "api"), re}, nullptr);
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].labels.Get("env"), "prod");
  EXPECT_TRUE(store_->Select({Eq("app", "nope")}, nullptr).empty());
  auto only_shop =
      store_->Select({Eq("app", "api")}, [](std::string_view ns) { return ns == "shop"; });
  EXPECT_TRUE(only_shop.empty());
}

}  // namespace
}  // namespace berth::logs

namespace berth::logs {
namespace {

TEST(LogStorePosix, StoresAndReopensOnARealDirectory) {
  char tmpl[] = "/tmp/berth-logs-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ManualClock clock;
  LogStoreOptions o;
  o.dir = dir + "/logs";
  o.background = false;
  o.chunk_target_bytes = 1024;
  int64_t now = clock.WallMillis() * 1'000'000;
  {
    auto s = LogStore::Open(o, PosixEnv(), clock);
    ASSERT_TRUE(s) << s.error().message;
    PushRequest req;
    PushStream ps{*LabelSet::Parse(R"({app="a"})"), {}};
    for (int i = 0; i < 1000; ++i)
      ps.entries.push_back({now + i, "posix line " + std::to_string(i)});
    req.streams.push_back(std::move(ps));
    ASSERT_TRUE((*s)->Push(std::move(req)));
  }
  auto s = LogStore::Open(o, PosixEnv(), clock);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)->Stats().entries, 1000u);
  EXPECT_GT((*s)->Stats().stored_bytes, 0u);
  s->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::logs
