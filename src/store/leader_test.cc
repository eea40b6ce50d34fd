#include "store/leader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "store/sqlite/temp_store.h"

namespace berth::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::string_view kKey = "/test/leader";

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TempSqliteStore::Open("leader", clock_, {.lease_check_interval = milliseconds(10)});
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
    store_ = &temp_->store();
  }
  void TearDown() override { temp_.reset(); }
  LeaderElection Candidate(std::string id) {
    return LeaderElection(*store_, clock_,
                          {.key = std::string(kKey), .id = std::move(id), .ttl_seconds = 3});
  }
  std::string Holder() {
    auto r = store_->Get(kKey);
    return r && !r->kvs.empty() ? r->kvs[0].value : "";
  }
  // Polls (the store's lease reaper runs on its own thread) for up to 30 s.
  bool WaitFor(const std::function<bool()>& cond) {
    for (int i = 0; i < 3000; ++i) {
      if (cond()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return cond();
  }

  ManualClock clock_;
  std::unique_ptr<TempSqliteStore> temp_;
  Store* store_ = nullptr;
};

TEST_F(LeaderElectionTest, OneOfTwoCandidatesLeadsAndTheOtherTakesOverAfterResign) {
  LeaderElection a = Candidate("a"), b = Candidate("b");
  EXPECT_TRUE(a.Tick().value());
  EXPECT_FALSE(b.Tick().value());
  EXPECT_TRUE(a.leading());
  EXPECT_FALSE(b.leading());
  EXPECT_EQ(Holder(), "a");
  EXPECT_EQ(store_->Get(kKey)->kvs[0].lease, a.lease());

  a.Resign();
  EXPECT_FALSE(a.leading());
  EXPECT_EQ(Holder(), "");  // the revoked lease took the key with it
  EXPECT_TRUE(b.Tick().value());
  EXPECT_FALSE(a.Tick().value());
  EXPECT_EQ(Holder(), "b");
}

TEST_F(LeaderElectionTest, RenewsWhileTickedAndLosesTheKeyWhenItStopsRenewing) {
  LeaderElection a = Candidate("a"), b = Candidate("b");
  ASSERT_TRUE(a.Tick().value());
  for (int i = 0; i < 5; ++i) {  // 5 s of ticks every second: the 3 s lease stays alive
    clock_.Advance(seconds(1));
    EXPECT_TRUE(a.Tick().value());
    EXPECT_FALSE(b.Tick().value());
  }
  EXPECT_EQ(Holder(), "a");

  clock_.Advance(seconds(4));  // a stalls beyond its TTL: the store deletes the key
  ASSERT_TRUE(WaitFor([&] { return Holder().empty(); }));
  EXPECT_TRUE(b.Tick().value());
  EXPECT_EQ(Holder(), "b");
  EXPECT_FALSE(a.Tick().value());  // it finds the key gone from under it: it steps down
  EXPECT_FALSE(a.leading());
  EXPECT_NE(a.last_loss().find("no longer"), std::string::npos) << a.last_loss();
}

TEST_F(LeaderElectionTest, ALeaderWhoseKeyWasDeletedStepsDownAtItsNextTick) {
  LeaderElection a = Candidate("a"), b = Candidate("b");
  ASSERT_TRUE(a.Tick().value());
  ASSERT_TRUE(store_->Delete(kKey));  // by hand: the lease itself is still alive
  EXPECT_TRUE(b.Tick().value());
  EXPECT_FALSE(a.Tick().value());
  EXPECT_FALSE(a.leading());
  EXPECT_NE(a.last_loss().find("no longer"), std::string::npos) << a.last_loss();
  EXPECT_EQ(Holder(), "b");
  EXPECT_FALSE(a.Tick().value());  // and does not take it back
  EXPECT_EQ(Holder(), "b");
}

TEST_F(LeaderElectionTest, DeposedLeadersGuardFailsItsWrites) {
  LeaderElection a = Candidate("a"), b = Candidate("b");
  ASSERT_TRUE(a.Tick().value());
  const Compare stale = a.Guard();
  TxnRequest ok;
  ok.compare = {stale};
  ok.success = {TxnOp::Put("/test/x", "1")};
  EXPECT_TRUE(store_->Txn(ok)->succeeded);

  a.Resign();
  ASSERT_TRUE(b.Tick().value());
  TxnRequest late = ok;
  late.success = {TxnOp::Put("/test/x", "2")};
  EXPECT_FALSE(store_->Txn(late)->succeeded);
  EXPECT_EQ(store_->Get("/test/x")->kvs[0].value, "1");
}

TEST_F(LeaderElectionTest, ARestartedCandidateTakesOverItsOwnKeyWithinTheTtl) {
  int64_t old_lease = 0;
  {
    LeaderElection a = Candidate("a");
    ASSERT_TRUE(a.Tick().value());
    old_lease = a.lease();
  }  // gone without resigning, as a crashed process
  LeaderElection again = Candidate("a"), b = Candidate("b");
  EXPECT_FALSE(b.Tick().value());
  EXPECT_TRUE(again.Tick().value());
  EXPECT_NE(again.lease(), old_lease);
  EXPECT_EQ(store_->Get(kKey)->kvs[0].lease, again.lease());
  EXPECT_EQ(store_->KeepAlive(old_lease).error().code, ErrorCode::kNotFound);  // revoked
}

}  // namespace
}  // namespace berth::store
