// The registry's watches over the real embedded store while the store's compactor runs:
// the hub watches from the revision it started at, so compacting older revisions never
// ends it (store/compactor.h keeps compacting right behind the writes here).
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "registry/registry.h"
#include "store/compactor.h"
#include "store/sqlite/temp_store.h"

namespace berth::registry {
namespace {

using namespace std::chrono_literals;

Instance Make(std::string id) {
  Instance in;
  in.service = "web";
  in.id = std::move(id);
  in.address = "10.0.0.1";
  in.port = 8080;
  return in;
}

// Collects what a watch delivers.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> ids;  // put events, in delivery order
  std::vector<int64_t> revisions;
  bool ended = false;  // compacted, canceled or ended

  void Add(const WatchEvent& e) {
    std::lock_guard lock(mu);
    if (e.type == WatchEvent::Type::kPut) ids.push_back(e.id);
    revisions.push_back(e.revision);
    cv.notify_all();
  }
  void End() {
    std::lock_guard lock(mu);
    ended = true;
    cv.notify_all();
  }
  bool WaitForIds(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 20s, [&] { return ids.size() >= n || ended; }) && !ended;
  }
};

TEST(RegistryCompactionTest, WatchesKeepDeliveringAcrossCompactions) {
  ManualClock clock;
  auto temp = store::TempSqliteStore::Open("registry-compaction", clock);
  ASSERT_TRUE(temp) << temp.error().message;
  store::Store& store = (*temp)->store();
  Registry registry(store, clock);
  // Compacts to one revision behind the current one at every check.
  store::Compactor compactor(
      store, clock,
      {.mode = store::CompactorOptions::Mode::kRevision, .revisions = 1, .check_interval = 1s});

  Seen single, multi;
  auto sub = registry.Watch("default", "web", 0, [&](WatchBatch&& b) {
    if (b.compacted || b.canceled) single.End();
    for (const auto& e : b.events) single.Add(e);
  });
  ASSERT_TRUE(sub) << sub.error().message;
  auto many =
      registry.WatchMany({{.id = 1, .ns = "default", .service = "web"}}, [&](MultiWatchBatch&& b) {
        if (!b.ended.empty()) multi.End();
        for (const auto& [i, e] : b.events) multi.Add(*e);
      });
  ASSERT_TRUE(many) << many.error().message;

  constexpr int kRounds = 40;
  int64_t last_compacted = 0;
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_TRUE(registry.Register(Make("w" + std::to_string(i))));
    ASSERT_TRUE(store.Put("/other/noise", std::to_string(i)));  // history outside /registry/
    clock.Advance(1s);
    auto c = compactor.Tick();
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_TRUE(c->has_value()) << "round " << i;
    EXPECT_GT(**c, last_compacted);
    last_compacted = **c;
    // A watcher that joins after a compaction starts from now and sees the next one.
    if (i == kRounds / 2) {
      Seen late;
      auto s = registry.Watch("default", "web", 0, [&](WatchBatch&& b) {
        if (b.compacted || b.canceled) late.End();
        for (const auto& e : b.events) late.Add(e);
      });
      ASSERT_TRUE(s) << s.error().message;
      ASSERT_TRUE(registry.Register(Make("late")));
      ASSERT_TRUE(late.WaitForIds(1));
      std::lock_guard lock(late.mu);
      EXPECT_EQ(late.ids[0], "late");
    }
  }
  EXPECT_EQ(store.CompactRevision().value(), last_compacted);
  EXPECT_GT(compactor.stats().compactions, kRounds - 1);

  for (Seen* seen : {&single, &multi}) {
    ASSERT_TRUE(seen->WaitForIds(kRounds + 1)) << "a watch ended or stalled";
    std::lock_guard lock(seen->mu);
    EXPECT_FALSE(seen->ended);
    ASSERT_EQ(seen->ids.size(), static_cast<size_t>(kRounds + 1));
    for (int i = 0, j = 0; i < kRounds; ++i, ++j) {
      if (seen->ids[j] == "late") ++j;
      EXPECT_EQ(seen->ids[j], "w" + std::to_string(i));
    }
    EXPECT_TRUE(std::is_sorted(seen->revisions.begin(), seen->revisions.end()));
  }
}

}  // namespace
}  // namespace berth::registry
