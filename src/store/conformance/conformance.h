// The Store conformance suite: one set of GoogleTest cases that every Store back-end
// (sqlite, etcd) must pass, so that components can rely on etcd v3 semantics whatever sits
// underneath (see store/store.h).
//
// A back-end's test file instantiates it with a factory:
//
//   #include "store/conformance/conformance.h"
//   BERTH_INSTANTIATE_STORE_CONFORMANCE(Sqlite, berth::store::conformance::StoreFactory{
//       .name = "sqlite",
//       .open = [] { return std::unique_ptr<berth::store::Store>(...); }});
//
// and links `berth_store_conformance` (an OBJECT library, so every case is linked in).
// Test names read `Sqlite/StoreConformanceTest.RevisionRisesByOnePerWrite/sqlite`.
//
// Factory contract (what `open` must give, once per test, in SetUp):
// - A working Store. It need NOT be empty: the suite writes and watches only keys under a
//   prefix unique to the test (`/berth-conformance/<Test>/<nonce>/`) and asserts only
//   revisions relative to what it observed (never absolute numbers). A shared etcd cluster
//   works as long as nothing else writes under `/berth-conformance/` concurrently.
// - Nothing else writes to the store while a test runs (the suite checks "+1 per write").
// - The suite compacts the store (at most to its current revision) and grants/revokes
//   leases with store-chosen ids; use a disposable store or cluster.
// - Leases must expire in real time: a lease of TTL 2s is expected to be gone, its keys
//   deleted and delete events delivered within `lease_expiry_deadline` (generous).
// - The store is destroyed at the end of the test (TearDown), watchers first.
//
// What it pins down beyond store.h, as etcd v3 behaves: a read or compaction at a future
// revision fails with kInvalidArgument; a read below the compact revision, or a compaction at
// or below it, fails with kCompacted, while reads at the compact revision and watches starting
// there still work; a watch starting below it gets one `compacted` response (or Watch itself
// fails with kCompacted); an unknown lease is kNotFound for Put/KeepAlive/Revoke and `ttl -1`
// (not an error) for LeaseTimeToLive; granting an existing lease id is kAlreadyExists; a txn
// that puts a key twice, or puts inside a range it deletes, is kInvalidArgument; ranges inside
// a txn see the txn's earlier writes; events of one revision keep the txn's operation order.
//
// Thread-safety: GoogleTest fixture; the helpers below are used from the test thread and
// the store's watch threads.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace berth::store::conformance {

struct StoreFactory {
  // Shown in test names; letters, digits and '_' only ("sqlite", "etcd").
  std::string name;
  // Returns a store for one test (see the contract above); nullptr fails the test.
  std::function<std::unique_ptr<Store>()> open;
  // Upper bound for waiting on asynchronous things (watch events). Never a speed assertion.
  std::chrono::milliseconds event_deadline{15000};
  // Upper bound for a TTL-2s lease to expire and its keys to be deleted.
  std::chrono::milliseconds lease_expiry_deadline{30000};
};

// Collects watch responses from the store's thread; tests wait on it with deadlines.
class WatchRecorder {
 public:
  WatchCallback Callback();
  // Waits until at least `n` events arrived in total (or the deadline passed); returns
  // whether they did.
  bool WaitForEvents(size_t n, std::chrono::milliseconds deadline);
  // Waits until a response satisfying `pred` arrived.
  bool WaitForResponse(const std::function<bool(const WatchResponse&)>& pred,
                       std::chrono::milliseconds deadline);
  std::vector<WatchResponse> responses() const;
  std::vector<Event> events() const;  // every event of every response, in arrival order
  size_t event_count() const;
  size_t callback_count() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchResponse> responses_;  // guarded by mu_
  size_t events_ = 0;                     // guarded by mu_
};

class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A key under this test's unique prefix: Key("a") -> "/berth-conformance/T/nonce/a".
  std::string Key(std::string_view suffix) const { return prefix_ + std::string(suffix); }
  const std::string& prefix() const { return prefix_; }
  Store& store() { return *store_; }
  const StoreFactory& factory() const { return GetParam(); }

  // Current revision of the store; fails the test on error.
  int64_t Rev();
  // Put that must succeed; returns its revision.
  int64_t MustPut(std::string_view key, std::string_view value, int64_t lease = 0);
  // Waits up to `deadline` for `condition` to hold, polling; returns whether it did.
  static bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds deadline);

  std::unique_ptr<Store> store_;
  std::string prefix_;
  // Watchers the test keeps alive; destroyed before the store.
  std::vector<std::unique_ptr<Watcher>> watchers_;
};

// Test-name generator for INSTANTIATE_TEST_SUITE_P (the factory's name).
std::string FactoryName(const ::testing::TestParamInfo<StoreFactory>& info);

}  // namespace berth::store::conformance

// Instantiates the whole suite for one back-end, at namespace scope. `prefix` is an
// identifier (Sqlite, Etcd); the arguments are StoreFactory values.
#define BERTH_INSTANTIATE_STORE_CONFORMANCE(prefix, ...)                                   \
  namespace berth_store_conformance_##prefix {                                             \
    using StoreConformanceTest = ::berth::store::conformance::StoreConformanceTest;        \
    INSTANTIATE_TEST_SUITE_P(prefix, StoreConformanceTest, ::testing::Values(__VA_ARGS__), \
                             ::berth::store::conformance::FactoryName);                    \
  }
