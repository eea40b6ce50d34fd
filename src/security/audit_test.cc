// AuditLog over the real sqlite store: batching, ordering, Flush/List seeing every earlier
// record, concurrent writers, and a shutdown that stays bounded when the store is slow or
// failing (the hang that made an earlier version of batching unusable).
#include "security/audit.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/json.h"
#include "harness/harness.h"
#include "security/tokens.h"
#include "store/sqlite/sqlite_store.h"

namespace berth::security {
namespace {

using namespace std::chrono_literals;

// Passes everything to the sqlite store; Txn can be slowed down or made to fail.
class ShakyStore final : public store::Store {
 public:
  explicit ShakyStore(store::Store& inner) : inner_(inner) {}
  std::atomic<bool> fail{false};
  std::atomic<int> txn_delay_ms{0};

  Result<store::RangeResult> Get(std::string_view k, const store::RangeOptions& o) override {
    return inner_.Get(k, o);
  }
  Result<store::PutResult> Put(std::string_view k, std::string_view v,
                               const store::PutOptions& o) override {
    return inner_.Put(k, v, o);
  }
  Result<store::DeleteResult> Delete(std::string_view k, const store::DeleteOptions& o) override {
    return inner_.Delete(k, o);
  }
  Result<store::TxnResult> Txn(const store::TxnRequest& r) override {
    if (int d = txn_delay_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(d));
    if (fail) return Fail(ErrorCode::kUnavailable, "store down (test)");
    return inner_.Txn(r);
  }
  Result<std::unique_ptr<store::Watcher>> Watch(std::string_view k, const store::WatchOptions& o,
                                                store::WatchCallback cb) override {
    return inner_.Watch(k, o, std::move(cb));
  }
  Result<int64_t> GrantLease(int64_t ttl, int64_t id) override {
    return inner_.GrantLease(ttl, id);
  }
  Result<int64_t> KeepAlive(int64_t id) override { return inner_.KeepAlive(id); }
  Result<void> RevokeLease(int64_t id) override { return inner_.RevokeLease(id); }
  Result<store::LeaseInfo> LeaseTimeToLive(int64_t id, bool keys) override {
    return inner_.LeaseTimeToLive(id, keys);
  }
  Result<std::vector<int64_t>> Leases() override { return inner_.Leases(); }
  Result<void> Compact(int64_t rev) override { return inner_.Compact(rev); }
  Result<int64_t> CurrentRevision() override { return inner_.CurrentRevision(); }
  Result<int64_t> CompactRevision() override { return inner_.CompactRevision(); }
  std::string_view backend() const override { return "shaky"; }

 private:
  store::Store& inner_;
};

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenSqliteStore(dir_.Sub("store.db"), {.durable = false}, clock_);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    store_ = std::move(*s);
    shaky_ = std::make_unique<ShakyStore>(*store_);
  }
  // Records stored (each key holds a JSON array of records, or one record as an object).
  int64_t Stored() {
    auto got = store_->Get("/security/audit/", {.prefix = true});
    EXPECT_TRUE(got.has_value());
    int64_t n = 0;
    for (const auto& kv : got->kvs) {
      auto j = ParseJson(kv.value);
      EXPECT_TRUE(j.has_value()) << kv.key;
      if (j) n += j->is_array() ? static_cast<int64_t>(j->size()) : 1;
    }
    return n;
  }
  int64_t Keys() {
    return store_->Get("/security/audit/", {.prefix = true, .count_only = true})->count;
  }
  static AuditRecord Rec(int i) {
    return {.actor = "admin",
            .action = fmt::format("PUT /v1/kv/k{}", i),
            .status = 200,
            .result = "ok",
            .remote = "127.0.0.1:1"};
  }

  SystemClock clock_;
  testing::TempDir dir_{"berth-audit-test"};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ShakyStore> shaky_;
};

TEST_F(AuditLogTest, ListSeesEveryRecordMadeBeforeItNewestFirst) {
  AuditLog audit(*store_, clock_, {.max_batch = 7});
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(audit.Record(Rec(i)).has_value());
  auto list = audit.List(1000);
  ASSERT_TRUE(list.has_value()) << list.error().message;
  ASSERT_EQ(list->size(), 50u);
  EXPECT_EQ(list->front().action, "PUT /v1/kv/k49");
  EXPECT_EQ(list->back().action, "PUT /v1/kv/k0");
  EXPECT_EQ((*list)[10].status, 200);
  EXPECT_EQ((*list)[10].remote, "127.0.0.1:1");
  auto stats = audit.stats();
  EXPECT_EQ(stats.recorded, 50);
  EXPECT_EQ(stats.lost, 0);
  EXPECT_GE(stats.batches, 8);  // at most 7 records per transaction
}

TEST_F(AuditLogTest, ABatchIsOneKeyNamedByItsFirstRecordAndHoldingItsRecordsInOrder) {
  AuditLog audit(*store_, clock_, {.max_batch = 7});
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(audit.Record(Rec(i)).has_value());
  ASSERT_TRUE(audit.Flush().has_value());
  EXPECT_EQ(Keys(), audit.stats().batches);
  EXPECT_EQ(Stored(), 50);
  auto got = store_->Get("/security/audit/", {.prefix = true});
  ASSERT_TRUE(got.has_value());
  int next = 0;
  for (const auto& kv : got->kvs) {
    auto j = ParseJson(kv.value);
    ASSERT_TRUE(j.has_value() && j->is_array()) << kv.value;
    EXPECT_LE(j->size(), 7u);
    EXPECT_TRUE(kv.key.ends_with(fmt::format("+{}", j->size()))) << kv.key;
    for (const auto& r : *j) {
      EXPECT_EQ(r.value("action", ""), fmt::format("PUT /v1/kv/k{}", next)) << kv.key;
      ++next;
    }
  }
  EXPECT_EQ(next, 50);
}

TEST_F(AuditLogTest, RecordsStoredOnePerKeyBeforeBatchingAreListedAndTrimmedWithTheRest) {
  // Two records in the old layout: one object per key, no count in the key.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(store_
                    ->Put(fmt::format("/security/audit/{:016d}-{:08d}", 1000 + i, i + 1),
                          fmt::format(R"({{"time_ms":{},"actor":"old","action":"PUT /old{}",)"
                                      R"("status":200,"result":"ok","remote":"r"}})",
                                      1000 + i, i))
                    .has_value());
  }
  {
    AuditLog audit(*store_, clock_, {.max_batch = 10});
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(audit.Record(Rec(i)).has_value());
    auto list = audit.List(100);
    ASSERT_TRUE(list.has_value());
    ASSERT_EQ(list->size(), 7u);
    EXPECT_EQ(list->front().action, "PUT /v1/kv/k4");
    EXPECT_EQ((*list)[5].action, "PUT /old1");
    EXPECT_EQ(list->back().action, "PUT /old0");
    EXPECT_EQ(list->back().actor, "old");
  }
  // Trimming counts the records of each key: with keep 1,000 and 1,100 new records in
  // batches of at most 100, the two old records go and at least 1,000 new ones stay.
  AuditLog audit(*store_, clock_, {.max_batch = 100, .keep = 1000});
  for (int i = 0; i < 1100; ++i) ASSERT_TRUE(audit.Record(Rec(100 + i)).has_value());
  audit.Close();
  const int64_t stored = Stored();
  EXPECT_GE(stored, 1000);
  EXPECT_LE(stored, 1100);
  auto got = store_->Get("/security/audit/", {.prefix = true, .keys_only = true});
  ASSERT_TRUE(got.has_value());
  for (const auto& kv : got->kvs) EXPECT_NE(kv.key.find('+'), std::string::npos) << kv.key;
}

TEST_F(AuditLogTest, ConcurrentRecordersShareTransactionsAndCloseStoresEveryQueuedRecord) {
  auto audit = std::make_unique<AuditLog>(*store_, clock_);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) EXPECT_TRUE(audit->Record(Rec(t * 1000 + i)).has_value());
    });
  }
  for (auto& t : threads) t.join();
  audit->Close();
  EXPECT_EQ(Stored(), 1600);
  EXPECT_EQ(audit->stats().recorded, 1600);
  EXPECT_LT(audit->stats().batches, 1600);  // batched: fewer transactions than records
  auto after = audit->Record(Rec(1));
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
  audit->Close();  // twice is fine
  audit.reset();   // and so is the destructor after Close
  EXPECT_EQ(Stored(), 1600);
}

TEST_F(AuditLogTest, FailedStoreWritesAreCountedLostAndListStillAnswers) {
  AuditLog audit(*shaky_, clock_);
  shaky_->fail = true;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(audit.Record(Rec(i)).has_value());
  ASSERT_TRUE(audit.Flush().has_value());
  EXPECT_EQ(audit.stats().lost, 5);
  shaky_->fail = false;
  ASSERT_TRUE(audit.Record(Rec(9)).has_value());
  auto list = audit.List(10);
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().action, "PUT /v1/kv/k9");
}

TEST_F(AuditLogTest, CloseGivesUpOnASlowStoreAfterItsTimeoutInsteadOfHanging) {
  AuditLog audit(*shaky_, clock_, {.max_batch = 1, .close_timeout = 100ms});
  shaky_->txn_delay_ms = 20;
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(audit.Record(Rec(i)).has_value());
  audit.Close();  // would take 4 s to store everything one by one
  auto stats = audit.stats();
  EXPECT_GT(stats.lost, 0);
  EXPECT_EQ(stats.lost + stats.recorded, 200);
  EXPECT_EQ(Stored(), stats.recorded);
  EXPECT_FALSE(audit.Record(Rec(1)).has_value());
  EXPECT_TRUE(audit.Flush(1s).has_value());  // nothing pending any more: answers at once
}

TEST_F(AuditLogTest, AQueueAtItsLimitRefusesRecordsWithAClearError) {
  AuditLog audit(*shaky_, clock_, {.max_batch = 1, .max_queue = 3});
  shaky_->txn_delay_ms = 200;
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = audit.Record(Rec(i));
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
      EXPECT_NE(r.error().message.find("audit queue full"), std::string::npos);
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  shaky_->txn_delay_ms = 0;
  audit.Close();
  EXPECT_EQ(audit.stats().lost, refused);
  EXPECT_EQ(Stored(), 10 - refused);
}

TEST(AuditRecordTest, StoredValueIsTheSameAsTheJsonPathsByteForByte) {
  std::vector<AuditRecord> records = {
      {.time_ms = 1764000000123,
       .actor = "bench",
       .token_id = "0123abcd",
       .action = "PUT /v1/registry/bench/svc1/i7",
       .status = 200,
       .result = "ok",
       .remote = "127.0.0.1:40000"},
      {.time_ms = 0, .status = 0},
      {.time_ms = -1,
       .actor = "name \"quoted\" \\ back",
       .token_id = "",
       .action = "PUT /v1/kv/caf\xc3\xa9/\xf0\x9f\x9a\xa2",
       .status = 400,
       .result = "malformed JSON: line 1\n\tcolumn 2 \x01\x1f\x7f /",
       .remote = "[::1]:1"},
      // Not UTF-8: the Json path replaces the bytes; the hand-written one must too.
      {.time_ms = 5,
       .actor = "a",
       .action = "PUT /v1/kv/\xff\xfe",
       .status = 404,
       .result = "no key \xc3"},
  };
  for (const auto& r : records) {
    EXPECT_EQ(EncodeAuditRecord(r), EncodeAuditRecordViaJson(r)) << r.action;
  }
}

TEST(TokenServiceTest, ARevokedTokenFailsAtOnceEvenAfterItsRecordWasCached) {
  SystemClock clock;
  testing::TempDir dir("berth-token-test");
  auto s = store::OpenSqliteStore(dir.Sub("store.db"), {.durable = false}, clock);
  ASSERT_TRUE(s.has_value());
  TokenService tokens(**s, clock);
  auto t = tokens.Create("ci", {.role = Role::kOperator}, "test");
  ASSERT_TRUE(t.has_value());
  for (int i = 0; i < 3; ++i) {
    auto p = tokens.Authenticate(t->secret);
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->name, "ci");
    EXPECT_EQ(p->role, Role::kOperator);
  }
  std::string wrong = t->secret;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(tokens.Authenticate(wrong).error().code, ErrorCode::kUnauthenticated);
  // The accepted token is remembered beside the cached record: a prefix or an extension of it
  // is still checked (and refused), and the right one still passes after a wrong one.
  std::string longer = t->secret + "0";
  std::string shorter = t->secret.substr(0, t->secret.size() - 1);
  EXPECT_EQ(tokens.Authenticate(longer).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(tokens.Authenticate(shorter).error().code, ErrorCode::kUnauthenticated);
  ASSERT_TRUE(tokens.Authenticate(t->secret).has_value());
  ASSERT_TRUE(tokens.Revoke(t->record.id).has_value());
  auto after = tokens.Authenticate(t->secret);
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().code, ErrorCode::kUnauthenticated);
}

}  // namespace
}  // namespace berth::security
