#include "store/sqlite/sqlite_store.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "store/conformance/conformance.h"

namespace berth::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A directory removed (with everything in it) when the test binary exits.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "berth-sqlite-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

TempDir& SharedDir() {
  static TempDir dir;
  return dir;
}

std::string FreshDbPath() {
  static std::atomic<int> n{0};
  return SharedDir().File("store-" + std::to_string(n++) + ".db");
}

SystemClock& RealClock() {
  static SystemClock clock;
  return clock;
}

std::unique_ptr<Store> OpenOrDie(const std::string& path, Clock& clock,
                                 SqliteOptions options = {}) {
  auto store = OpenSqliteStore(path, options, clock);
  EXPECT_TRUE(store.has_value()) << store.error().message;
  return store.has_value() ? std::move(*store) : nullptr;
}

BERTH_INSTANTIATE_STORE_CONFORMANCE(
    Sqlite, conformance::StoreFactory{
                .name = "sqlite",
                .open = [] { return OpenOrDie(FreshDbPath(), RealClock()); },
            });

// The same suite with every read served by SQLite (no in-memory view of the live keys).
BERTH_INSTANTIATE_STORE_CONFORMANCE(SqliteNoCache,
                                    conformance::StoreFactory{
                                        .name = "sqlite_nocache",
                                        .open =
                                            [] {
                                              return OpenOrDie(
                                                  FreshDbPath(), RealClock(),
                                                  SqliteOptions{.cache_current = false});
                                            },
                                    });

// The same suite with compaction in steps of two rows (every compaction takes several).
BERTH_INSTANTIATE_STORE_CONFORMANCE(SqliteCompactSteps,
                                    conformance::StoreFactory{
                                        .name = "sqlite_compact_steps",
                                        .open =
                                            [] {
                                              return OpenOrDie(
                                                  FreshDbPath(), RealClock(),
                                                  SqliteOptions{.durable = false,
                                                                .compact_step_rows = 2});
                                            },
                                    });

// The same suite with SQLite writing the WAL itself (two writes per page, no berth-wal shim).
BERTH_INSTANTIATE_STORE_CONFORMANCE(SqlitePlainWal,
                                    conformance::StoreFactory{
                                        .name = "sqlite_plain_wal",
                                        .open =
                                            [] {
                                              return OpenOrDie(
                                                  FreshDbPath(), RealClock(),
                                                  SqliteOptions{.gather_wal_writes = false});
                                            },
                                    });

bool WaitFor(const std::function<bool()>& condition, milliseconds deadline = seconds(20)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return condition();
}

std::optional<KeyValue> GetOne(Store& store, std::string_view key, int64_t revision = 0) {
  RangeOptions options;
  options.revision = revision;
  auto got = store.Get(key, options);
  EXPECT_TRUE(got.has_value()) << got.error().message;
  if (!got || got->kvs.empty()) return std::nullopt;
  return got->kvs[0];
}

TEST(SqliteStoreTest, ReopenKeepsEverythingAcknowledged) {
  const std::string path = FreshDbPath();
  ManualClock clock;
  int64_t lease = 0;
  int64_t revision = 0;
  int64_t first = 0;
  {
    auto store = OpenOrDie(path, clock);
    ASSERT_NE(store, nullptr);
    first = store->Put("/a", "1")->revision;
    ASSERT_TRUE(store->Put("/a", "2"));
    ASSERT_TRUE(store->Put("/b", "x"));
    ASSERT_TRUE(store->Delete("/b"));
    lease = store->GrantLease(30).value();
    ASSERT_TRUE(store->Put("/leased", "v", PutOptions{.lease = lease}));
    TxnRequest txn;
    txn.success = {TxnOp::Put("/t1", "1"), TxnOp::Put("/t2", "2")};
    ASSERT_TRUE(store->Txn(txn));
    ASSERT_TRUE(store->Compact(first + 1));
    revision = store->CurrentRevision().value();
  }
  clock.Advance(seconds(25));  // the lease's TTL counts again from the reopen
  auto store = OpenOrDie(path, clock);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision().value(), revision);
  EXPECT_EQ(store->CompactRevision().value(), first + 1);
  EXPECT_EQ(GetOne(*store, "/a")->value, "2");
  EXPECT_EQ(GetOne(*store, "/a")->version, 2);
  EXPECT_FALSE(GetOne(*store, "/b").has_value());
  EXPECT_EQ(GetOne(*store, "/t1")->mod_revision, revision);
  EXPECT_EQ(GetOne(*store, "/leased")->lease, lease);
  // History above the compact revision survives; below it is gone.
  EXPECT_EQ(GetOne(*store, "/b", first + 2)->value, "x");
  RangeOptions old;
  old.revision = first;
  EXPECT_EQ(store->Get("/a", old).error().code, ErrorCode::kCompacted);
  auto info = store->LeaseTimeToLive(lease, true).value();
  EXPECT_EQ(info.granted_ttl, 30);
  EXPECT_EQ(info.ttl, 30);
  EXPECT_EQ(info.keys, std::vector<std::string>{"/leased"});
  // Writes continue from the restored revision.
  EXPECT_EQ(store->Put("/c", "1")->revision, revision + 1);
}

TEST(SqliteStoreTest, ConcurrentWritersShareCommits) {
  auto store = OpenOrDie(FreshDbPath(), RealClock());
  ASSERT_NE(store, nullptr);
  auto* sqlite = dynamic_cast<SqliteStore*>(store.get());
  ASSERT_NE(sqlite, nullptr);
  const SqliteStats before = sqlite->stats();
  constexpr int kThreads = 32;
  constexpr int kWrites = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        if (!store->Put("/gc/" + std::to_string(t) + "/" + std::to_string(i), "v")) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const SqliteStats after = sqlite->stats();
  const int64_t writes = after.writes - before.writes;
  const int64_t batches = after.batches - before.batches;
  EXPECT_EQ(writes, kThreads * kWrites);
  EXPECT_LT(batches, writes) << "no two writes shared a commit";
  EXPECT_GT(after.largest_batch, 1);
  EXPECT_EQ(after.failed_batches, 0);
}

TEST(SqliteStoreTest, ManualClockDrivesLeaseExpiry) {
  ManualClock clock;
  auto store =
      OpenOrDie(FreshDbPath(), clock, SqliteOptions{.lease_check_interval = milliseconds(10)});
  ASSERT_NE(store, nullptr);
  int64_t lease = store->GrantLease(5).value();
  ASSERT_TRUE(store->Put("/l/a", "1", PutOptions{.lease = lease}));
  ASSERT_TRUE(store->Put("/l/b", "2", PutOptions{.lease = lease}));
  ASSERT_TRUE(store->Put("/l/keep", "3"));
  const int64_t before = store->CurrentRevision().value();

  conformance::WatchRecorder recorder;
  auto watcher = store->Watch("/l/", WatchOptions{.prefix = true}, recorder.Callback());
  ASSERT_TRUE(watcher.has_value());

  clock.Advance(seconds(4));
  EXPECT_EQ(store->LeaseTimeToLive(lease).value().ttl, 1);
  EXPECT_EQ(store->KeepAlive(lease).value(), 5);
  clock.Advance(seconds(4));
  EXPECT_TRUE(GetOne(*store, "/l/a").has_value());  // renewed: 1s left
  clock.Advance(seconds(2));
  ASSERT_TRUE(WaitFor([&] { return !GetOne(*store, "/l/a").has_value(); }));
  EXPECT_FALSE(GetOne(*store, "/l/b").has_value());
  EXPECT_TRUE(GetOne(*store, "/l/keep").has_value());
  EXPECT_EQ(store->CurrentRevision().value(), before + 1);  // both keys in one revision
  EXPECT_EQ(store->KeepAlive(lease).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store->LeaseTimeToLive(lease).value().ttl, -1);
  ASSERT_TRUE(recorder.WaitForEvents(2, seconds(20)));
  auto responses = recorder.responses();
  ASSERT_EQ(responses.size(), 1u);
  ASSERT_EQ(responses[0].events.size(), 2u);
  EXPECT_EQ(responses[0].events[0].type, Event::Type::kDelete);
  EXPECT_EQ(responses[0].events[0].kv.mod_revision, before + 1);
}

TEST(SqliteStoreTest, CorruptFileFailsWithClearError) {
  const std::string path = FreshDbPath();
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(8192, 'z');
  }
  auto store = OpenSqliteStore(path, {}, RealClock());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(store.error().message.find(path), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("not a database"), std::string::npos)
      << store.error().message;
}

TEST(SqliteStoreTest, ForeignDatabaseIsRejected) {
  const std::string path = FreshDbPath();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE users (name TEXT)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenSqliteStore(path, {}, RealClock());
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message.find("not a Berth store"), std::string::npos)
      << store.error().message;
}

TEST(SqliteStoreTest, SecondOpenOfSameFileFails) {
  const std::string path = FreshDbPath();
  auto first = OpenOrDie(path, RealClock());
  ASSERT_NE(first, nullptr);
  auto second = OpenSqliteStore(path, {}, RealClock());
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
  first.reset();
  EXPECT_NE(OpenOrDie(path, RealClock()), nullptr);
}

TEST(SqliteStoreTest, UnopenablePathFails) {
  auto store = OpenSqliteStore("/nonexistent-dir/berth/store.db", {}, RealClock());
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message.find("/nonexistent-dir/berth/store.db"), std::string::npos);
}

TEST(SqliteStoreTest, CallbackMayCancelItsOwnWatch) {
  auto store = OpenOrDie(FreshDbPath(), RealClock());
  ASSERT_NE(store, nullptr);
  std::atomic<int> calls{0};
  std::unique_ptr<Watcher> watcher;
  std::mutex mu;
  auto w = store->Watch("/self", {}, [&](WatchResponse&&) {
    ++calls;
    std::lock_guard lock(mu);
    watcher->Cancel();
  });
  ASSERT_TRUE(w.has_value());
  {
    std::lock_guard lock(mu);
    watcher = std::move(*w);
  }
  ASSERT_TRUE(store->Put("/self", "1"));
  ASSERT_TRUE(WaitFor([&] { return calls.load() == 1; }));
  ASSERT_TRUE(store->Put("/self", "2"));
  ASSERT_TRUE(store->Put("/self", "3"));
  // The watch was canceled inside the first callback: later puts reach no one. Another watch
  // proves they were dispatched.
  conformance::WatchRecorder probe;
  auto later = store->Watch("/self", WatchOptions{.start_revision = 1}, probe.Callback());
  ASSERT_TRUE(later.has_value());
  ASSERT_TRUE(probe.WaitForEvents(3, seconds(20)));
  EXPECT_EQ(calls.load(), 1);
}

TEST(SqliteStoreTest, ClosingTheStoreCancelsLiveWatches) {
  auto store = OpenOrDie(FreshDbPath(), RealClock());
  ASSERT_NE(store, nullptr);
  conformance::WatchRecorder recorder;
  auto watcher = store->Watch("/w", {}, recorder.Callback());
  ASSERT_TRUE(watcher.has_value());
  store.reset();
  auto responses = recorder.responses();
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_TRUE(responses[0].canceled);
  (*watcher)->Cancel();  // after the store is gone: harmless
}

TEST(SqliteStoreTest, AcknowledgedWritesSurviveAKilledProcess) {
  const std::string path = FreshDbPath();
  int acks[2];
  ASSERT_EQ(::pipe(acks), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child writes as fast as it can and reports each acknowledged revision.
    ::close(acks[0]);
    SystemClock clock;
    auto store = OpenSqliteStore(path, {}, clock);
    if (!store) ::_exit(2);
    for (int64_t i = 0;; ++i) {
      auto put = (*store)->Put("/crash/" + std::to_string(i), std::to_string(i));
      if (!put) ::_exit(3);
      if (::write(acks[1], &i, sizeof(i)) != sizeof(i)) ::_exit(4);
    }
  }
  ::close(acks[1]);
  int64_t last = -1;
  for (;;) {
    int64_t i = 0;
    if (::read(acks[0], &i, sizeof(i)) != sizeof(i)) break;
    last = i;
    if (last >= 50) break;
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  // Drain acks written before the kill landed: they were acknowledged too.
  for (int64_t i = 0; ::read(acks[0], &i, sizeof(i)) == sizeof(i);) last = i;
  ::close(acks[0]);
  ASSERT_GE(last, 50) << "child exited early with status " << status;
  auto store = OpenOrDie(path, RealClock());
  ASSERT_NE(store, nullptr);
  RangeOptions all;
  all.prefix = true;
  all.count_only = true;
  auto got = store->Get("/crash/", all);
  ASSERT_TRUE(got.has_value());
  EXPECT_GE(got->count, last + 1);
  for (int64_t i = 0; i <= last; ++i) {
    auto kv = GetOne(*store, "/crash/" + std::to_string(i));
    ASSERT_TRUE(kv.has_value()) << "acknowledged write " << i << " lost";
    EXPECT_EQ(kv->value, std::to_string(i));
  }
}

// The syncer holds a batch until the WAL is fsynced: until then its write is not
// acknowledged, not readable and not published, while the writer goes on applying the next
// batch.
TEST(SqliteStoreTest, AWriteIsNeitherVisibleNorAcknowledgedBeforeItsWalIsSynced) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int syncs_started = 0;
  SqliteOptions options;
  options.sync_fault_for_test = [&] {
    std::unique_lock lock(mu);
    ++syncs_started;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return 0;
  };
  auto store = OpenOrDie(FreshDbPath(), RealClock(), options);
  ASSERT_NE(store, nullptr);
  auto* sqlite = dynamic_cast<SqliteStore*>(store.get());
  ASSERT_NE(sqlite, nullptr);
  const int64_t rev0 = *store->CurrentRevision();
  std::vector<WatchResponse> seen;
  std::mutex seen_mu;
  auto watcher = store->Watch("/sync/", {.prefix = true}, [&](WatchResponse&& r) {
    std::lock_guard lock(seen_mu);
    seen.push_back(std::move(r));
  });
  ASSERT_TRUE(watcher.has_value());

  std::atomic<bool> first_done{false}, second_done{false};
  std::thread first([&] {
    EXPECT_TRUE(store->Put("/sync/a", "1").has_value());
    first_done = true;
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return syncs_started == 1; });  // batch 1 committed, fsync "running"
  }
  // The writer is not held by the fsync: a second batch commits meanwhile.
  std::thread second([&] {
    EXPECT_TRUE(store->Put("/sync/b", "2").has_value());
    second_done = true;
  });
  for (int i = 0; i < 5000 && sqlite->stats().applied < 2; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_EQ(sqlite->stats().applied, 2) << "the writer waited for the fsync of batch 1";
  // ... and holds its transaction open until the syncer is free (one fsync per commit).
  EXPECT_EQ(sqlite->stats().commits, 1);
  EXPECT_FALSE(first_done.load());
  EXPECT_FALSE(second_done.load());
  EXPECT_EQ(*store->CurrentRevision(), rev0);
  EXPECT_FALSE(GetOne(*store, "/sync/a").has_value());
  EXPECT_FALSE(store->Get("/sync/a", {.revision = rev0 + 1}).has_value())
      << "a reader reached a revision that is not yet durable";
  {
    std::lock_guard lock(seen_mu);
    EXPECT_TRUE(seen.empty());
  }
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  second.join();
  EXPECT_EQ(*store->CurrentRevision(), rev0 + 2);
  EXPECT_EQ(GetOne(*store, "/sync/a")->value, "1");
  EXPECT_EQ(GetOne(*store, "/sync/b")->value, "2");
  EXPECT_EQ(sqlite->stats().batches, 2) << "the second put was not committed on its own";
  for (int i = 0; i < 2000; ++i) {
    std::lock_guard lock(seen_mu);
    size_t events = 0;
    for (const auto& r : seen) events += r.events.size();
    if (events == 2) break;
    std::this_thread::sleep_for(milliseconds(1));
  }
  std::lock_guard lock(seen_mu);
  std::vector<std::string> keys;
  for (const auto& r : seen)
    for (const auto& e : r.events) keys.push_back(e.kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"/sync/a", "/sync/b"}));
}

// A failed fsync fails the writes it covered, shows none of them, and the store refuses
// writes from then on (a retried fsync may lie), while reads still work.
TEST(SqliteStoreTest, AFailedWalFsyncFailsItsWritesAndStopsWrites) {
  std::atomic<int> fault{0};
  SqliteOptions options;
  options.sync_fault_for_test = [&] { return fault.load(); };
  auto store = OpenOrDie(FreshDbPath(), RealClock(), options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("/f/kept", "1").has_value());
  const int64_t rev = *store->CurrentRevision();
  fault = EIO;
  auto lost = store->Put("/f/lost", "2");
  ASSERT_FALSE(lost.has_value());
  EXPECT_EQ(lost.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(lost.error().message.find("fsync"), std::string::npos) << lost.error().message;
  EXPECT_NE(lost.error().message.find("-wal"), std::string::npos) << lost.error().message;
  fault = 0;
  auto after = store->Put("/f/after", "3");
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(*store->CurrentRevision(), rev);
  EXPECT_EQ(GetOne(*store, "/f/kept")->value, "1");
  EXPECT_FALSE(GetOne(*store, "/f/lost").has_value());
  EXPECT_FALSE(GetOne(*store, "/f/after").has_value());
}

TEST(SqliteStoreTest, ACommitsWalFramesGoOutInOneWriteAndReadersAndReopenSeeThem) {
  const std::string path = FreshDbPath();
  const std::string value(3000, 'v');  // about a page each: a txn of 40 dirties 40+ pages
  int64_t revision = 0;
  {
    auto store = OpenOrDie(path, RealClock());
    ASSERT_NE(store, nullptr);
    auto* sqlite = dynamic_cast<SqliteStore*>(store.get());
    ASSERT_NE(sqlite, nullptr);
    ASSERT_TRUE(store->Put("/big/before", "1").has_value());
    const SqliteStats before = sqlite->stats();
    TxnRequest txn;
    for (int i = 0; i < 40; ++i)
      txn.success.push_back(TxnOp::Put(fmt::format("/big/{:02}", i), value));
    auto done = store->Txn(txn);
    ASSERT_TRUE(done.has_value()) << done.error().message;
    revision = done->revision;
    const SqliteStats after = sqlite->stats();
    // SQLite wrote a header and a page per frame (80+ writes); the shim made them one or two
    // writes (the unix VFS takes at most 128 KiB per write).
    EXPECT_GE(after.wal_writes - before.wal_writes, 80);
    EXPECT_LE(after.wal_flushes - before.wal_flushes, 3);
    EXPECT_GE(after.wal_flushes - before.wal_flushes, 1);
    // A read at an older revision goes to a read connection (default VFS), which reads the
    // frames from the file.
    auto at = GetOne(*store, "/big/39", revision);
    ASSERT_TRUE(at.has_value());
    EXPECT_EQ(at->value, value);
    RangeOptions all;
    all.prefix = true;
    all.revision = revision;
    EXPECT_EQ(store->Get("/big/", all)->kvs.size(), 41u);
  }
  auto store = OpenOrDie(path, RealClock());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision().value(), revision);
  EXPECT_EQ(GetOne(*store, "/big/00")->value, value);
  EXPECT_EQ(GetOne(*store, "/big/before")->value, "1");
}

// wal_autocheckpoint_pages bounds the WAL: a small setting checkpoints and starts the WAL
// over, so it stays near that size; a large one lets it hold every commit. Either way every
// write reads back after reopen.
TEST(SqliteStoreTest, TheWalStaysNearItsAutocheckpointSize) {
  const std::string value(3000, 'v');  // about a page per key
  auto wal_bytes_after_writes = [&](int pages) -> int64_t {
    const std::string path = FreshDbPath();
    {
      auto store = OpenOrDie(path, RealClock(), {.wal_autocheckpoint_pages = pages});
      if (store == nullptr) return -1;
      for (int i = 0; i < 300; ++i) {
        EXPECT_TRUE(store->Put(fmt::format("/wal/{:03}", i), value).has_value());
      }
      std::error_code ec;
      auto size = std::filesystem::file_size(path + "-wal", ec);
      EXPECT_FALSE(ec) << ec.message();
      auto reopened_check = GetOne(*store, "/wal/299");
      EXPECT_TRUE(reopened_check.has_value());
      if (ec) return -1;
      store.reset();
      auto again = OpenOrDie(path, RealClock(), {.wal_autocheckpoint_pages = pages});
      EXPECT_NE(again, nullptr);
      if (again != nullptr) {
        EXPECT_EQ(again->Get("/wal/", {.prefix = true, .count_only = true})->count, 300);
      }
      return static_cast<int64_t>(size);
    }
  };
  const int64_t small = wal_bytes_after_writes(20);
  const int64_t large = wal_bytes_after_writes(100'000);
  // 300 commits of a page or more each: 1.2 MB or more when nothing was checkpointed.
  EXPECT_GT(large, 300 * 4096);
  EXPECT_GT(small, 0);
  EXPECT_LT(small, 200 * 4096);
  auto bad = OpenSqliteStore(FreshDbPath(), {.wal_autocheckpoint_pages = -1}, RealClock());
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("wal_autocheckpoint_pages"), std::string::npos);
}

TEST(SqliteStoreTest, ACommitLargerThanTheShimsBufferIsWrittenWhole) {
  // Four values of 1.5 MiB: ~6 MiB of WAL frames in one commit, past the shim's 4 MiB
  // buffer, so it writes part of the commit before the commit ends.
  const std::string path = FreshDbPath();
  int64_t revision = 0;
  std::vector<std::string> values;
  for (char c : {'a', 'b', 'c', 'd'}) values.emplace_back(kMaxValueBytes, c);
  {
    auto store = OpenOrDie(path, RealClock());
    ASSERT_NE(store, nullptr);
    auto* sqlite = dynamic_cast<SqliteStore*>(store.get());
    ASSERT_NE(sqlite, nullptr);
    const SqliteStats before = sqlite->stats();
    TxnRequest txn;
    for (size_t i = 0; i < values.size(); ++i) {
      txn.success.push_back(TxnOp::Put(fmt::format("/huge/{}", i), values[i]));
    }
    auto done = store->Txn(txn);
    ASSERT_TRUE(done.has_value()) << done.error().message;
    revision = done->revision;
    EXPECT_GE(sqlite->stats().wal_flushes - before.wal_flushes, 2);
    for (size_t i = 0; i < values.size(); ++i) {
      auto at = GetOne(*store, fmt::format("/huge/{}", i), revision);  // a read connection
      ASSERT_TRUE(at.has_value());
      EXPECT_EQ(at->value, values[i]);
    }
  }
  auto store = OpenOrDie(path, RealClock());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->CurrentRevision().value(), revision);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(GetOne(*store, fmt::format("/huge/{}", i))->value, values[i]);
  }
}

TEST(SqliteStoreTest, AFailedWriteOfGatheredWalFramesFailsItsWritesAndStopsWrites) {
  const std::string path = FreshDbPath();
  std::atomic<int> fault{0};
  int64_t rev = 0;
  {
    SqliteOptions options;
    options.wal_write_fault_for_test = [&] { return fault.load(); };
    auto store = OpenOrDie(path, RealClock(), options);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Put("/g/kept", "1").has_value());
    rev = *store->CurrentRevision();
    fault = EIO;
    auto lost = store->Put("/g/lost", "2");
    ASSERT_FALSE(lost.has_value());
    EXPECT_EQ(lost.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(lost.error().message.find("-wal"), std::string::npos) << lost.error().message;
    fault = 0;
    auto after = store->Put("/g/after", "3");
    ASSERT_FALSE(after.has_value());
    EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(*store->CurrentRevision(), rev);
    EXPECT_EQ(GetOne(*store, "/g/kept")->value, "1");
    EXPECT_FALSE(GetOne(*store, "/g/lost").has_value());
  }
  // Reopened, the store has everything acknowledged and takes writes again.
  auto store = OpenOrDie(path, RealClock());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(GetOne(*store, "/g/kept")->value, "1");
  EXPECT_FALSE(GetOne(*store, "/g/after").has_value());
  EXPECT_TRUE(store->Put("/g/again", "4").has_value());
}

TEST(SqliteStoreTest, FailingWriteInABatchFailsAlone) {
  auto store = OpenOrDie(FreshDbPath(), RealClock());
  ASSERT_NE(store, nullptr);
  const int64_t r0 = store->CurrentRevision().value();
  constexpr int kThreads = 8;
  constexpr int kWrites = 20;
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        PutOptions options;
        if (t % 2 == 1) options.lease = 0x7ffe5555;  // unknown: this put must fail
        auto put = store->Put("/mix/" + std::to_string(t) + "/" + std::to_string(i), "v", options);
        if (put) {
          ++good;
        } else if (put.error().code == ErrorCode::kNotFound) {
          ++bad;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kThreads / 2 * kWrites);
  EXPECT_EQ(bad.load(), kThreads / 2 * kWrites);
  EXPECT_EQ(store->CurrentRevision().value(), r0 + good.load());
  RangeOptions all;
  all.prefix = true;
  all.count_only = true;
  EXPECT_EQ(store->Get("/mix/", all)->count, good.load());
}

TEST(SqliteStoreTest, WatchReplaysHistoryWrittenBeforeReopen) {
  const std::string path = FreshDbPath();
  int64_t first = 0;
  {
    auto store = OpenOrDie(path, RealClock());
    ASSERT_NE(store, nullptr);
    first = store->Put("/h/a", "1")->revision;
    ASSERT_TRUE(store->Put("/h/b", "2"));
    ASSERT_TRUE(store->Delete("/h/a"));
  }
  auto store = OpenOrDie(path, RealClock());
  ASSERT_NE(store, nullptr);
  conformance::WatchRecorder recorder;
  auto watcher = store->Watch("/h/", WatchOptions{.prefix = true, .start_revision = first},
                              recorder.Callback());
  ASSERT_TRUE(watcher.has_value());
  ASSERT_TRUE(recorder.WaitForEvents(3, seconds(20)));
  auto events = recorder.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.mod_revision, first);
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].kv.key, "/h/a");
}

TEST(SqliteStoreTest, SlowWatcherCatchesUpFromHistoryInOrder) {
  auto store = OpenOrDie(FreshDbPath(), RealClock(), SqliteOptions{.watch_max_pending_events = 8});
  ASSERT_NE(store, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::vector<int64_t> revisions;  // guarded by mu
  auto watcher = store->Watch("/slow/", WatchOptions{.prefix = true}, [&](WatchResponse&& r) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return released; });  // the first callback blocks until released
    for (const auto& e : r.events) revisions.push_back(e.kv.mod_revision);
    cv.notify_all();
  });
  ASSERT_TRUE(watcher.has_value());
  const int64_t first = store->Put("/slow/0", "v")->revision;
  constexpr int kWrites = 200;
  for (int i = 1; i < kWrites; ++i) {
    ASSERT_TRUE(store->Put("/slow/" + std::to_string(i % 13), "v"));
  }
  {
    std::lock_guard lock(mu);
    released = true;
    cv.notify_all();
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, seconds(20), [&] { return revisions.size() >= kWrites; }));
  ASSERT_EQ(revisions.size(), static_cast<size_t>(kWrites));
  for (int i = 0; i < kWrites; ++i) EXPECT_EQ(revisions[i], first + i);
}

// Rows of the kv table (the history), read straight from the closed store's file.
int64_t HistoryRows(const std::string& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM kv", -1, &st, nullptr), SQLITE_OK);
  int64_t n = -1;
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// Compaction in steps of a few rows (and again from there) keeps exactly etcd's history: for
// every key its newest row at or below the compact revision unless that is a delete, and
// every row above it; reads at every kept revision see what they saw before.
TEST(SqliteStoreTest, CompactionInStepsKeepsExactlyTheHistoryAtAndAboveTheRevision) {
  const std::string path = FreshDbPath();
  // A model of the history: per revision, the changes (key -> value, nullopt for delete).
  std::map<int64_t, std::map<std::string, std::optional<std::string>>> log;
  auto snapshot = [&](int64_t at) {
    std::map<std::string, std::string> state;
    for (auto it = log.begin(); it != log.end() && it->first <= at; ++it) {
      for (const auto& [k, v] : it->second) {
        if (v) {
          state[k] = *v;
        } else {
          state.erase(k);
        }
      }
    }
    return state;
  };
  // Rows the table must hold after compacting at `c`.
  auto expected_rows = [&](int64_t c) {
    int64_t rows = 0;
    std::map<std::string, bool> newest_live;  // per key: newest change at or below c is a put
    for (const auto& [rev, changes] : log) {
      for (const auto& [k, v] : changes) {
        if (rev <= c) {
          newest_live[k] = v.has_value();
        } else {
          ++rows;
        }
      }
    }
    for (const auto& [k, live] : newest_live) rows += live ? 1 : 0;
    return rows;
  };
  int64_t current = 0;
  int64_t first_compact = 0;
  {
    auto store = OpenOrDie(path, RealClock(), {.durable = false, .compact_step_rows = 3});
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 300; ++i) {
      const std::string key = "/m/" + std::to_string(i * 7 % 11);
      if (i % 9 == 4) {
        auto d = store->Delete(key);
        ASSERT_TRUE(d);
        if (d->deleted > 0) log[d->revision][key] = std::nullopt;
      } else if (i % 17 == 5) {  // a txn writing three keys at one revision
        TxnRequest t;
        for (int k = 0; k < 3; ++k) {
          t.success.push_back(TxnOp::Put("/m/t" + std::to_string(k), std::to_string(i)));
        }
        auto r = store->Txn(t);
        ASSERT_TRUE(r);
        for (int k = 0; k < 3; ++k)
          log[r->revision]["/m/t" + std::to_string(k)] = std::to_string(i);
      } else {
        auto p = store->Put(key, std::to_string(i));
        ASSERT_TRUE(p);
        log[p->revision][key] = std::to_string(i);
      }
    }
    current = store->CurrentRevision().value();
    auto check_from = [&](int64_t c) {
      for (int64_t rev = c; rev <= current; ++rev) {
        auto got = store->Get("/m/", {.prefix = true, .revision = rev});
        ASSERT_TRUE(got) << rev << ": " << got.error().message;
        std::map<std::string, std::string> seen;
        for (const auto& kv : got->kvs) seen[kv.key] = kv.value;
        ASSERT_EQ(seen, snapshot(rev)) << "at revision " << rev;
      }
      auto old = store->Get("/m/", {.prefix = true, .revision = c - 1});
      ASSERT_FALSE(old);
      EXPECT_EQ(old.error().code, ErrorCode::kCompacted);
    };
    first_compact = current / 2;
    auto* sqlite = dynamic_cast<SqliteStore*>(store.get());
    ASSERT_TRUE(store->Compact(first_compact));
    EXPECT_EQ(store->CompactRevision().value(), first_compact);
    EXPECT_GT(sqlite->stats().compact_steps, 10) << "steps of about three rows each";
    ASSERT_NO_FATAL_FAILURE(check_from(first_compact));
  }
  EXPECT_EQ(HistoryRows(path), expected_rows(first_compact));
  // Reopened, compacted further: the steps start from the stored compact revision.
  const int64_t second = current - 20;
  {
    auto store = OpenOrDie(path, RealClock(), {.durable = false, .compact_step_rows = 3});
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->CompactRevision().value(), first_compact);
    ASSERT_TRUE(store->Compact(second));
    EXPECT_EQ(store->CompactRevision().value(), second);
    for (int64_t rev = second; rev <= current; ++rev) {
      auto got = store->Get("/m/", {.prefix = true, .revision = rev});
      ASSERT_TRUE(got) << rev;
      std::map<std::string, std::string> seen;
      for (const auto& kv : got->kvs) seen[kv.key] = kv.value;
      ASSERT_EQ(seen, snapshot(rev)) << "at revision " << rev;
    }
  }
  EXPECT_EQ(HistoryRows(path), expected_rows(second));
}

}  // namespace
}  // namespace berth::store
