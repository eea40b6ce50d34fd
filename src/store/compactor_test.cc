#include "store/compactor.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <thread>

#include "store/sqlite/temp_store.h"

namespace berth::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Mode = CompactorOptions::Mode;

// The real store, with Compact failing while `fail_compact` is above 0 (one call each).
class FlakyCompactStore final : public Store {
 public:
  explicit FlakyCompactStore(Store& inner) : inner_(inner) {}
  int fail_compact = 0;
  int compact_calls = 0;

  Result<RangeResult> Get(std::string_view key, const RangeOptions& o) override {
    return inner_.Get(key, o);
  }
  Result<PutResult> Put(std::string_view key, std::string_view value,
                        const PutOptions& o) override {
    return inner_.Put(key, value, o);
  }
  Result<DeleteResult> Delete(std::string_view key, const DeleteOptions& o) override {
    return inner_.Delete(key, o);
  }
  Result<TxnResult> Txn(const TxnRequest& request) override { return inner_.Txn(request); }
  Result<std::unique_ptr<Watcher>> Watch(std::string_view key, const WatchOptions& o,
                                         WatchCallback callback) override {
    return inner_.Watch(key, o, std::move(callback));
  }
  Result<int64_t> GrantLease(int64_t ttl, int64_t id) override {
    return inner_.GrantLease(ttl, id);
  }
  Result<int64_t> KeepAlive(int64_t id) override { return inner_.KeepAlive(id); }
  Result<void> RevokeLease(int64_t id) override { return inner_.RevokeLease(id); }
  Result<LeaseInfo> LeaseTimeToLive(int64_t id, bool keys) override {
    return inner_.LeaseTimeToLive(id, keys);
  }
  Result<std::vector<int64_t>> Leases() override { return inner_.Leases(); }
  Result<void> Compact(int64_t revision) override {
    ++compact_calls;
    if (fail_compact > 0) {
      --fail_compact;
      return Fail(ErrorCode::kUnavailable, "injected: store unavailable");
    }
    return inner_.Compact(revision);
  }
  Result<int64_t> CurrentRevision() override { return inner_.CurrentRevision(); }
  Result<int64_t> CompactRevision() override { return inner_.CompactRevision(); }
  std::string_view backend() const override { return inner_.backend(); }

 private:
  Store& inner_;
};

class CompactorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TempSqliteStore::Open("compactor", clock_, {.lease_check_interval = milliseconds(10)});
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
    flaky_ = std::make_unique<FlakyCompactStore>(temp_->store());
  }
  void TearDown() override {
    flaky_.reset();
    temp_.reset();
  }
  Store& store() { return *flaky_; }
  int64_t Write() {
    auto r = store().Put("/c/k", fmt::format("v{}", ++writes_));
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->revision : 0;
  }
  int64_t Compacted() { return store().CompactRevision().value(); }
  static CompactorOptions Periodic(Clock::Duration retention) {
    return {.mode = Mode::kPeriodic, .retention = retention};
  }

  ManualClock clock_;
  std::unique_ptr<TempSqliteStore> temp_;
  std::unique_ptr<FlakyCompactStore> flaky_;
  int writes_ = 0;
};

TEST_F(CompactorTest, PeriodicChecksEveryTenthOfTheRetentionWithinBounds) {
  EXPECT_EQ(Compactor(store(), clock_, Periodic(minutes(5))).check_interval(), seconds(30));
  EXPECT_EQ(Compactor(store(), clock_, Periodic(seconds(5))).check_interval(), seconds(1));
  EXPECT_EQ(Compactor(store(), clock_, Periodic(std::chrono::hours(24))).check_interval(),
            std::chrono::hours(1));
  EXPECT_EQ(Compactor(store(), clock_, {.mode = Mode::kRevision, .revisions = 10}).check_interval(),
            minutes(1));
}

TEST_F(CompactorTest, PeriodicCompactsToTheNewestRevisionOlderThanTheRetention) {
  Compactor c(store(), clock_, Periodic(minutes(10)));  // checks every minute
  // Minute by minute: a write, then a check. sampled[m] is the revision the check at minute
  // m saw.
  std::vector<int64_t> sampled;
  for (int m = 0; m <= 25; ++m) {
    Write();
    Write();
    sampled.push_back(store().CurrentRevision().value());
    auto r = c.Tick();
    ASSERT_TRUE(r) << r.error().message;
    if (m < 10) {
      EXPECT_FALSE(r->has_value()) << "minute " << m << ": nothing is older than the retention";
      EXPECT_EQ(Compacted(), 0);
    } else {
      // The sample of exactly ten minutes ago: the newest one at least the retention old.
      ASSERT_TRUE(r->has_value()) << "minute " << m;
      EXPECT_EQ(**r, sampled[m - 10]) << "minute " << m;
      EXPECT_EQ(Compacted(), sampled[m - 10]);
      // Everything written within the retention is still readable.
      EXPECT_TRUE(store().Get("/c/k", {.revision = sampled[m - 10]}).has_value());
      EXPECT_TRUE(store().Get("/c/k", {.revision = sampled[m - 10] + 1}).has_value());
      auto old = store().Get("/c/k", {.revision = sampled[m - 10] - 1});
      ASSERT_FALSE(old.has_value());
      EXPECT_EQ(old.error().code, ErrorCode::kCompacted);
    }
    clock_.Advance(minutes(1));
  }
  EXPECT_EQ(c.stats().compactions, 16);
  EXPECT_EQ(c.stats().compact_revision, sampled[15]);
}

TEST_F(CompactorTest, PeriodicNeverCompactsNewerThanTheRetentionBetweenChecks) {
  Compactor c(store(), clock_, Periodic(minutes(10)));
  ASSERT_TRUE(c.Tick());  // samples at t0
  const int64_t at_start = store().CurrentRevision().value();
  // Ticks more often than the check interval only check when one is due.
  for (int i = 0; i < 599; ++i) {
    Write();
    clock_.Advance(seconds(1));
    auto r = c.Tick();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->has_value()) << "second " << i + 1;
  }
  EXPECT_EQ(Compacted(), 0);
  clock_.Advance(seconds(1));  // t0 + 10 min: the t0 sample is now the retention old
  auto r = c.Tick();
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(**r, at_start);
  EXPECT_EQ(Compacted(), at_start);
}

TEST_F(CompactorTest, RevisionModeKeepsTheLastNRevisions) {
  Compactor c(store(), clock_, {.mode = Mode::kRevision, .revisions = 5});
  Write();
  Write();  // revision 3: too few to compact anything... current - 5 < 1
  auto none = c.Tick();
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  for (int i = 0; i < 20; ++i) Write();
  const int64_t current = store().CurrentRevision().value();
  clock_.Advance(minutes(1));
  auto r = c.Tick();
  ASSERT_TRUE(r && r->has_value()) << (r ? "no compaction" : r.error().message);
  EXPECT_EQ(**r, current - 5);
  EXPECT_EQ(Compacted(), current - 5);
  for (int64_t rev = current - 5; rev <= current; ++rev) {
    EXPECT_TRUE(store().Get("/c/k", {.revision = rev}).has_value()) << rev;
  }
  // Nothing new written: the next check has nothing to do.
  clock_.Advance(minutes(1));
  auto again = c.Tick();
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  EXPECT_EQ(flaky_->compact_calls, 1);
}

TEST_F(CompactorTest, DisabledDoesNothing) {
  for (auto [mode, retention] : std::vector<std::pair<std::string, std::string>>{
           {"off", ""}, {"periodic", "0"}, {"revision", "0"}}) {
    auto o = ParseCompactorFlags(mode, retention);
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->mode, Mode::kOff) << mode << " " << retention;
    Compactor c(store(), clock_, *o);
    EXPECT_FALSE(c.enabled());
    c.Start();  // no thread
    for (int i = 0; i < 30; ++i) {
      Write();
      clock_.Advance(minutes(10));
      auto r = c.Tick();
      ASSERT_TRUE(r);
      EXPECT_FALSE(r->has_value());
    }
    c.Stop();
  }
  EXPECT_EQ(flaky_->compact_calls, 0);
  EXPECT_EQ(Compacted(), 0);
  EXPECT_TRUE(store().Get("/c/k", {.revision = 2}).has_value());
}

TEST_F(CompactorTest, AFailedCompactionIsRetriedAtTheNextCheck) {
  Compactor c(store(), clock_, {.mode = Mode::kRevision, .revisions = 2});
  for (int i = 0; i < 10; ++i) Write();
  const int64_t target = store().CurrentRevision().value() - 2;
  flaky_->fail_compact = 1;
  auto failed = c.Tick();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(failed.error().message.find(fmt::format("revision {}", target)), std::string::npos)
      << failed.error().message;
  EXPECT_EQ(c.stats().failures, 1);
  EXPECT_EQ(Compacted(), 0);
  // Not before the next check is due.
  clock_.Advance(seconds(59));
  auto early = c.Tick();
  ASSERT_TRUE(early);
  EXPECT_FALSE(early->has_value());
  EXPECT_EQ(flaky_->compact_calls, 1);
  clock_.Advance(seconds(1));
  auto retried = c.Tick();
  ASSERT_TRUE(retried && retried->has_value());
  EXPECT_EQ(**retried, target);
  EXPECT_EQ(Compacted(), target);
  EXPECT_EQ(c.stats().compactions, 1);
}

TEST_F(CompactorTest, AnAlreadyCompactedRevisionCountsAsDone) {
  Compactor c(store(), clock_, {.mode = Mode::kRevision, .revisions = 3});
  for (int i = 0; i < 10; ++i) Write();
  const int64_t current = store().CurrentRevision().value();
  ASSERT_TRUE(store().Compact(current));  // someone compacted further already
  auto r = c.Tick();
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(**r, current - 3);
  EXPECT_EQ(c.stats().failures, 0);
  EXPECT_EQ(c.stats().compactions, 1);
  EXPECT_EQ(Compacted(), current);
  // It does not try that revision again.
  clock_.Advance(minutes(1));
  ASSERT_TRUE(c.Tick());
  EXPECT_EQ(flaky_->compact_calls, 2);  // ours above and the compactor's one
}

TEST_F(CompactorTest, OnlyTheLeaderCompacts) {
  // Checks every second, well within the leader lease (the ManualClock expires leases).
  CompactorOptions o{.mode = Mode::kRevision,
                     .revisions = 1,
                     .check_interval = seconds(1),
                     .leader_id = "a",
                     .leader_ttl_seconds = 10};
  Compactor a(store(), clock_, o);
  o.leader_id = "b";
  Compactor b(store(), clock_, o);
  for (int i = 0; i < 5; ++i) Write();
  auto ra = a.Tick();
  ASSERT_TRUE(ra && ra->has_value());
  EXPECT_TRUE(a.leading());
  auto rb = b.Tick();
  ASSERT_TRUE(rb);
  EXPECT_FALSE(rb->has_value());
  EXPECT_FALSE(b.leading());
  EXPECT_EQ(b.stats().compactions, 0);
  const int64_t by_a = Compacted();

  for (int i = 0; i < 5; ++i) Write();
  clock_.Advance(seconds(1));
  ASSERT_TRUE(b.Tick());
  EXPECT_EQ(Compacted(), by_a) << "a follower never compacts";
  ASSERT_TRUE(a.Tick());
  EXPECT_GT(Compacted(), by_a);
  EXPECT_NE(a.RenderMetrics().find("berth_store_compactor_leader 1"), std::string::npos);
  EXPECT_NE(b.RenderMetrics().find("berth_store_compactor_leader 0"), std::string::npos);

  // a stops (resigns): b leads at its next tick and compacts.
  a.Stop();
  for (int i = 0; i < 5; ++i) Write();
  clock_.Advance(seconds(1));
  auto taken = b.Tick();
  ASSERT_TRUE(taken && taken->has_value());
  EXPECT_TRUE(b.leading());
  EXPECT_EQ(Compacted(), store().CurrentRevision().value() - 1);
}

TEST_F(CompactorTest, StartedCompactorCompactsOnItsOwnThread) {
  for (int i = 0; i < 10; ++i) Write();
  Compactor c(store(), clock_, {.mode = Mode::kRevision, .revisions = 4});
  c.Start();  // the first check runs at once
  for (int i = 0; i < 3000 && c.stats().compactions == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  c.Stop();
  EXPECT_EQ(c.stats().compactions, 1);
  EXPECT_EQ(Compacted(), store().CurrentRevision().value() - 4);
  EXPECT_NE(c.RenderMetrics().find("berth_store_compactions_total 1\n"), std::string::npos);
}

TEST(ParseCompactorFlagsTest, ReadsEtcdStyleFlags) {
  auto p = ParseCompactorFlags("periodic", "5m");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->mode, Mode::kPeriodic);
  EXPECT_EQ(p->retention, minutes(5));
  EXPECT_EQ(ParseCompactorFlags("periodic", "1h30m")->retention, minutes(90));
  EXPECT_EQ(ParseCompactorFlags("periodic", "90s")->retention, seconds(90));
  EXPECT_EQ(ParseCompactorFlags("periodic", "2")->retention, std::chrono::hours(2));  // etcd
  auto r = ParseCompactorFlags("revision", "1000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mode, Mode::kRevision);
  EXPECT_EQ(r->revisions, 1000);
  for (auto [mode, retention] : std::vector<std::pair<std::string, std::string>>{{"periodic", "5x"},
                                                                                 {"periodic", ""},
                                                                                 {"periodic", "-1"},
                                                                                 {"periodic", "m"},
                                                                                 {"revision", "5m"},
                                                                                 {"revision", "-3"},
                                                                                 {"hourly", "1"}}) {
    auto bad = ParseCompactorFlags(mode, retention);
    ASSERT_FALSE(bad) << mode << " " << retention;
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
    const std::string named = retention.empty()
                                  ? std::string("empty duration")
                                  : "\"" + (mode == "hourly" ? mode : retention) + "\"";
    EXPECT_NE(bad.error().message.find(named), std::string::npos) << bad.error().message;
  }
}

}  // namespace
}  // namespace berth::store
