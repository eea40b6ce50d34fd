// The Compactor over a real etcd (one member started by the test harness): two control
// planes share the store, only the leader compacts, an already compacted revision counts as
// done, and a live watch keeps delivering across the compactions.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "harness/harness.h"
#include "store/compactor.h"
#include "store/etcd/etcd_store.h"

namespace berth::store {
namespace {

using namespace std::chrono_literals;
using Mode = CompactorOptions::Mode;

TEST(CompactorEtcdTest, OnlyTheLeaderCompactsASharedEtcdAndWatchesKeepDelivering) {
  berth::testing::EtcdCluster cluster;
  ASSERT_TRUE(cluster.Start(1)) << cluster.error();
  auto opened_a = OpenEtcdStore(cluster.ClientEndpoints());
  auto opened_b = OpenEtcdStore(cluster.ClientEndpoints());
  ASSERT_TRUE(opened_a && opened_b);
  Store& a_store = **opened_a;
  Store& b_store = **opened_b;
  SystemClock clock;

  // A watch from the next revision on, across every compaction below.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> seen;
  bool ended = false;
  const int64_t start = a_store.CurrentRevision().value() + 1;
  auto watcher =
      b_store.Watch("/cmp/", {.prefix = true, .start_revision = start}, [&](WatchResponse&& r) {
        std::lock_guard lock(mu);
        if (r.compacted || r.canceled) ended = true;
        for (const auto& e : r.events) seen.push_back(e.kv.mod_revision);
        cv.notify_all();
      });
  ASSERT_TRUE(watcher) << watcher.error().message;
  // The watch is created on the server asynchronously: wait for its first event before any
  // compaction (a watch created after a compaction past its start would be compacted).
  std::vector<int64_t> written;
  auto first = a_store.Put("/cmp/first", "x");
  ASSERT_TRUE(first) << first.error().message;
  written.push_back(first->revision);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return !seen.empty() || ended; }));
  }

  CompactorOptions o{.mode = Mode::kRevision,
                     .revisions = 2,
                     .check_interval = 1ms,  // a check at every Tick
                     .leader_id = "a",
                     .leader_ttl_seconds = 10};
  Compactor a(a_store, clock, o);
  o.leader_id = "b";
  Compactor b(b_store, clock, o);

  auto write = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto p = a_store.Put("/cmp/k" + std::to_string(i % 3), std::to_string(i));
      ASSERT_TRUE(p) << p.error().message;
      written.push_back(p->revision);
    }
  };
  ASSERT_NO_FATAL_FAILURE(write(10));
  auto ra = a.Tick();
  ASSERT_TRUE(ra) << ra.error().message;
  ASSERT_TRUE(ra->has_value()) << "the first candidate leads and compacts";
  EXPECT_TRUE(a.leading());
  EXPECT_EQ(a_store.CompactRevision().value(), **ra);
  std::this_thread::sleep_for(2ms);
  auto rb = b.Tick();
  ASSERT_TRUE(rb) << rb.error().message;
  EXPECT_FALSE(rb->has_value());
  EXPECT_FALSE(b.leading());

  // An older target than etcd's compact revision is done, not an error.
  Compactor older(a_store, clock, {.mode = Mode::kRevision, .revisions = 5});
  auto done = older.Tick();
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ(older.stats().failures, 0);
  EXPECT_EQ(older.stats().compactions, 1);

  // a resigns: b leads at its next check and compacts further.
  a.Stop();
  ASSERT_NO_FATAL_FAILURE(write(10));
  std::this_thread::sleep_for(2ms);
  auto taken = b.Tick();
  ASSERT_TRUE(taken) << taken.error().message;
  ASSERT_TRUE(taken->has_value());
  EXPECT_TRUE(b.leading());
  EXPECT_GT(**taken, **ra);
  EXPECT_EQ(b_store.CompactRevision().value(), **taken);

  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return seen.size() >= written.size() || ended; }));
  EXPECT_FALSE(ended) << "the live watch ended at a compaction";
  EXPECT_EQ(seen, written);
}

}  // namespace
}  // namespace berth::store
