#include "store/sqlite/watch_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/conformance/conformance.h"

// This binary links the conformance library only for WatchRecorder.
namespace berth::store::conformance {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceTest);
}  // namespace berth::store::conformance

namespace berth::store::sqlite {
namespace {

using std::chrono::seconds;

Event PutEvent(std::string key, int64_t revision) {
  Event e;
  e.kv.key = std::move(key);
  e.kv.mod_revision = revision;
  e.kv.version = 1;
  return e;
}

// History where every revision r holds one put of "/k" (and one of "/other").
ReplayFn FakeHistory(std::atomic<int>* replays = nullptr) {
  return [replays](const KeyRange& range, int64_t from, int64_t to, bool, int64_t*,
                   const std::function<bool(WatchResponse &&)>& emit) -> Result<void> {
    if (replays != nullptr) ++*replays;
    for (int64_t r = from; r <= to; ++r) {
      WatchResponse response;
      response.revision = to;
      for (const char* key : {"/k", "/other"}) {
        if (range.Contains(key)) response.events.push_back(PutEvent(key, r));
      }
      if (!response.events.empty() && !emit(std::move(response))) return {};
    }
    return {};
  };
}

std::vector<int64_t> Revisions(const conformance::WatchRecorder& recorder) {
  std::vector<int64_t> out;
  for (const auto& e : recorder.events()) out.push_back(e.kv.mod_revision);
  return out;
}

TEST(KeyRangeTest, ContainsFollowsEtcdRanges) {
  EXPECT_TRUE((KeyRange{"/a", ""}).Contains("/a"));
  EXPECT_FALSE((KeyRange{"/a", ""}).Contains("/ab"));
  EXPECT_TRUE((KeyRange{"/a", "/c"}).Contains("/b"));
  EXPECT_FALSE((KeyRange{"/a", "/c"}).Contains("/c"));
  EXPECT_TRUE((KeyRange{"/a", std::string(1, '\0')}).Contains("\xff"));
  EXPECT_FALSE((KeyRange{"/a", std::string(1, '\0')}).Contains("/"));
}

TEST(WatchHubTest, ReplaysHistoryThenDeliversLiveRevisionsInOrder) {
  WatchHub hub(FakeHistory(), /*published_revision=*/5);
  conformance::WatchRecorder recorder;
  auto watcher = hub.Add(KeyRange{"/k", ""}, 2, false, 0, recorder.Callback());
  for (int64_t r = 6; r <= 9; ++r) hub.Publish(r, {PutEvent("/k", r), PutEvent("/other", r)});
  ASSERT_TRUE(recorder.WaitForEvents(8, seconds(20)));
  EXPECT_EQ(Revisions(recorder), (std::vector<int64_t>{2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(WatchHubTest, PublishAllDeliversAGroupCommitsRevisionsInOrder) {
  WatchHub hub(FakeHistory(), /*published_revision=*/5);
  conformance::WatchRecorder recorder;
  conformance::WatchRecorder other;
  auto watcher = hub.Add(KeyRange{"/k", ""}, 0, false, 0, recorder.Callback());
  auto watcher2 = hub.Add(KeyRange{"/other", ""}, 0, false, 0, other.Callback());
  std::vector<std::pair<int64_t, std::vector<Event>>> batch;
  for (int64_t r = 6; r <= 9; ++r) batch.emplace_back(r, std::vector<Event>{PutEvent("/k", r)});
  batch.emplace_back(10, std::vector<Event>{PutEvent("/other", 10)});
  hub.PublishAll(batch);
  ASSERT_TRUE(recorder.WaitForEvents(4, seconds(20)));
  ASSERT_TRUE(other.WaitForEvents(1, seconds(20)));
  EXPECT_EQ(Revisions(recorder), (std::vector<int64_t>{6, 7, 8, 9}));
  EXPECT_EQ(Revisions(other), (std::vector<int64_t>{10}));
  // A watch added after the batch starts at the revision after its last.
  conformance::WatchRecorder late;
  auto watcher3 = hub.Add(KeyRange{"/k", ""}, 0, false, 0, late.Callback());
  hub.Publish(11, {PutEvent("/k", 11)});
  ASSERT_TRUE(late.WaitForEvents(1, seconds(20)));
  EXPECT_EQ(Revisions(late), (std::vector<int64_t>{11}));
}

TEST(WatchHubTest, StartBelowCompactRevisionGetsOneCompactedResponse) {
  WatchHub hub(FakeHistory(), 10);
  conformance::WatchRecorder recorder;
  auto watcher = hub.Add(KeyRange{"/k", ""}, 3, false, /*compact_revision=*/7, recorder.Callback());
  hub.Publish(11, {PutEvent("/k", 11)});
  ASSERT_TRUE(
      recorder.WaitForResponse([](const WatchResponse& r) { return r.compacted; }, seconds(20)));
  // A second watch proves revision 11 was dispatched; the compacted watch got nothing more.
  conformance::WatchRecorder probe;
  auto other = hub.Add(KeyRange{"/k", ""}, 11, false, 7, probe.Callback());
  ASSERT_TRUE(probe.WaitForEvents(1, seconds(20)));
  auto responses = recorder.responses();
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].compact_revision, 7);
  EXPECT_TRUE(responses[0].events.empty());
}

TEST(WatchHubTest, ReplayFailureCancelsTheWatchWithTheReason) {
  WatchHub hub(
      [](const KeyRange&, int64_t, int64_t, bool, int64_t*,
         const std::function<bool(WatchResponse &&)>&) -> Result<void> {
        return Fail(ErrorCode::kInternal, "disk on fire");
      },
      5);
  conformance::WatchRecorder recorder;
  auto watcher = hub.Add(KeyRange{"/k", ""}, 1, false, 0, recorder.Callback());
  ASSERT_TRUE(
      recorder.WaitForResponse([](const WatchResponse& r) { return r.canceled; }, seconds(20)));
  EXPECT_NE(recorder.responses().back().cancel_reason.find("disk on fire"), std::string::npos);
  // The hub forgets the watch right after its last callback returns.
  auto until = std::chrono::steady_clock::now() + seconds(20);
  while (hub.watcher_count() != 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(hub.watcher_count(), 0u);
}

TEST(WatchHubTest, CancelReturnsOnlyAfterTheRunningCallbackEnds) {
  WatchHub hub(FakeHistory(), 0);
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false, finished = false;
  auto watcher = hub.Add(KeyRange{"/k", ""}, 0, false, 0, [&](WatchResponse&&) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    finished = true;
  });
  hub.Publish(1, {PutEvent("/k", 1)});
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(20), [&] { return entered; }));
  }
  std::atomic<bool> cancel_returned{false};
  bool finished_when_cancel_returned = false;
  std::thread canceler([&] {
    watcher->Cancel();
    std::lock_guard lock(mu);
    finished_when_cancel_returned = finished;
    cancel_returned = true;
  });
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  canceler.join();
  EXPECT_TRUE(cancel_returned.load());
  EXPECT_TRUE(finished_when_cancel_returned);
}

TEST(WatchHubTest, SlowWatcherFallsBackToHistory) {
  std::atomic<int> replays{0};
  WatchHub hub(FakeHistory(&replays), 0, /*max_pending_events=*/4);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  conformance::WatchRecorder recorder;
  auto record = recorder.Callback();
  auto watcher = hub.Add(KeyRange{"/k", ""}, 0, false, 0, [&](WatchResponse&& r) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });
    }
    record(std::move(r));
  });
  for (int64_t r = 1; r <= 50; ++r) hub.Publish(r, {PutEvent("/k", r)});
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  ASSERT_TRUE(recorder.WaitForEvents(50, seconds(20)));
  std::vector<int64_t> want;
  for (int64_t r = 1; r <= 50; ++r) want.push_back(r);
  EXPECT_EQ(Revisions(recorder), want);
  EXPECT_GE(replays.load(), 1);
}

TEST(WatchHubTest, ShutdownCancelsLiveWatchesAndLaterAddsAreInert) {
  auto hub = std::make_unique<WatchHub>(FakeHistory(), 0);
  conformance::WatchRecorder recorder;
  auto watcher = hub->Add(KeyRange{"/k", ""}, 0, false, 0, recorder.Callback());
  hub->Shutdown("bye");
  auto responses = recorder.responses();
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_TRUE(responses[0].canceled);
  EXPECT_EQ(responses[0].cancel_reason, "bye");
  conformance::WatchRecorder late;
  auto inert = hub->Add(KeyRange{"/k", ""}, 0, false, 0, late.Callback());
  hub->Publish(1, {PutEvent("/k", 1)});
  hub.reset();
  EXPECT_EQ(late.callback_count(), 0u);
  watcher->Cancel();
  inert->Cancel();
}

}  // namespace
}  // namespace berth::store::sqlite
