// Integration tests of the etcd Store back-end against real etcd clusters started by the
// harness: the Store conformance suite on a shared 3-member cluster, and etcd-specific
// behaviour (fail-over, watch resume across a killed member, error mapping).
#include "store/etcd/etcd_store.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "harness/harness.h"
#include "store/conformance/conformance.h"

namespace berth::store {
namespace {

using berth::testing::EtcdCluster;
using namespace std::chrono_literals;

// One 3-member cluster for the whole conformance suite, started on first use and stopped
// (and its temp dir removed) when the test program ends.
class SharedCluster : public ::testing::Environment {
 public:
  static EtcdCluster& Get() {
    std::lock_guard lock(mu_);
    if (cluster_ == nullptr) {
      cluster_ = new EtcdCluster();
      started_ = cluster_->Start(3);
      if (!started_) ADD_FAILURE() << "starting the shared etcd cluster: " << cluster_->error();
    }
    return *cluster_;
  }
  static bool started() { return started_; }
  void TearDown() override {
    std::lock_guard lock(mu_);
    delete cluster_;
    cluster_ = nullptr;
  }

 private:
  static inline std::mutex mu_;
  static inline EtcdCluster* cluster_ = nullptr;
  static inline bool started_ = false;
};

[[maybe_unused]] ::testing::Environment* const kSharedCluster =
    ::testing::AddGlobalTestEnvironment(new SharedCluster());

std::unique_ptr<Store> OpenShared() {
  auto& cluster = SharedCluster::Get();
  if (!SharedCluster::started()) return nullptr;
  auto store = OpenEtcdStore(cluster.ClientEndpoints());
  EXPECT_TRUE(store.has_value()) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

BERTH_INSTANTIATE_STORE_CONFORMANCE(Etcd,
                                    conformance::StoreFactory{.name = "etcd", .open = OpenShared});

// Collects watch responses; thread-safe.
class Recorder {
 public:
  WatchCallback Callback() {
    return [this](WatchResponse&& r) {
      std::lock_guard lock(mu_);
      responses_.push_back(std::move(r));
    };
  }
  std::vector<Event> Events() const {
    std::lock_guard lock(mu_);
    std::vector<Event> out;
    for (const auto& r : responses_) out.insert(out.end(), r.events.begin(), r.events.end());
    return out;
  }
  std::vector<WatchResponse> Responses() const {
    std::lock_guard lock(mu_);
    return responses_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<WatchResponse> responses_;
};

// Learns which member each attempt of a user watch went to (the store's own mirror watch,
// id 0, is left out).
struct ConnectionLog {
  std::mutex mu;
  std::vector<std::string> watch_endpoints;  // in connect order
};

EtcdOptions RecordingOptions(std::shared_ptr<ConnectionLog> log) {
  EtcdOptions options;
  options.failover_deadline = 60s;
  options.watch_attempt_observer = [log](int64_t watch_id, const std::string& endpoint) {
    if (watch_id == 0) return;
    std::lock_guard lock(log->mu);
    log->watch_endpoints.push_back(endpoint);
  };
  return options;
}

std::string Padded(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d", i);
  return buf;
}

class EtcdStoreTest : public ::testing::Test {
 protected:
  void StartCluster(int members) {
    cluster_ = std::make_unique<EtcdCluster>();
    ASSERT_TRUE(cluster_->Start(members)) << cluster_->error();
  }
  std::unique_ptr<EtcdCluster> cluster_;
};

TEST_F(EtcdStoreTest, WatchResumesWithoutLossOrDuplicatesAcrossAKilledMember) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(3));
  auto log = std::make_shared<ConnectionLog>();
  auto opened = OpenEtcdStore(cluster_->ClientEndpoints(), RecordingOptions(log));
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  auto& store = **opened;

  Recorder recorder;
  auto rev = store.CurrentRevision();
  ASSERT_TRUE(rev.has_value());
  auto watcher = store.Watch("/w/", WatchOptions{.prefix = true, .start_revision = *rev + 1},
                             recorder.Callback());
  ASSERT_TRUE(watcher.has_value()) << watcher.error().message;

  int written = 0;
  auto write = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ++written;
      auto put = store.Put("/w/" + Padded(written), "v" + std::to_string(written));
      ASSERT_TRUE(put.has_value()) << "put " << written << ": " << put.error().message;
    }
  };
  ASSERT_NO_FATAL_FAILURE(write(5));
  ASSERT_TRUE(berth::testing::WaitFor([&] { return recorder.Events().size() == 5; }));

  // Kill the member the watch stream is connected to.
  std::string watched;
  {
    std::lock_guard lock(log->mu);
    ASSERT_EQ(log->watch_endpoints.size(), 1u);
    watched = log->watch_endpoints.back();
  }
  int victim = -1;
  for (int i = 0; i < cluster_->size(); ++i) {
    if (cluster_->ClientEndpoint(i) == watched) victim = i;
  }
  ASSERT_GE(victim, 0) << watched;
  cluster_->KillMember(victim);
  // If the victim led the cluster, writes fail with kUnavailable until a new leader is
  // elected (etcd cannot tell whether they were applied, so the store does not retry them).
  ASSERT_TRUE(cluster_->WaitHealthy());

  // Writes go on (the store fails over too), while the watch resumes on another member.
  ASSERT_NO_FATAL_FAILURE(write(10));
  ASSERT_TRUE(cluster_->RestartMember(victim));
  ASSERT_NO_FATAL_FAILURE(write(5));

  ASSERT_TRUE(berth::testing::WaitFor([&] { return recorder.Events().size() >= 20; }))
      << "events seen: " << recorder.Events().size();
  // A little more traffic so that a late duplicate would have arrived by the time it is seen.
  ASSERT_NO_FATAL_FAILURE(write(1));
  ASSERT_TRUE(berth::testing::WaitFor([&] { return recorder.Events().size() >= 21; }));

  auto events = recorder.Events();
  ASSERT_EQ(events.size(), 21u);
  int64_t last_revision = 0;
  for (int i = 0; i < 21; ++i) {
    EXPECT_EQ(events[i].type, Event::Type::kPut);
    EXPECT_EQ(events[i].kv.key, "/w/" + Padded(i + 1));
    EXPECT_EQ(events[i].kv.value, "v" + std::to_string(i + 1));
    EXPECT_GT(events[i].kv.mod_revision, last_revision);
    last_revision = events[i].kv.mod_revision;
  }
  for (const auto& r : recorder.Responses()) {
    EXPECT_FALSE(r.canceled) << r.cancel_reason;
    EXPECT_FALSE(r.compacted);
  }
  std::lock_guard lock(log->mu);
  ASSERT_GE(log->watch_endpoints.size(), 2u);
  EXPECT_NE(log->watch_endpoints[1], watched) << "the watch resumed on another member";
}

// Creates `key` once: a retry of a write whose outcome was unknown cannot apply it twice.
bool CreateOnce(Store& store, const std::string& key, const std::string& value) {
  TxnRequest txn;
  Compare absent;
  absent.key = key;
  absent.target = Compare::Target::kVersion;
  absent.op = Compare::Op::kEqual;
  absent.number = 0;
  txn.compare = {absent};
  txn.success = {TxnOp::Put(key, value)};
  return berth::testing::WaitFor([&] { return store.Txn(txn).has_value(); }, 120s, 50ms);
}

enum class Victim { kWatchedMember, kLeader };

// A writer creates /cw/0001.. one key at a time while a member is killed mid-way and later
// restarted; the watch must see every key exactly once, in order.
void ConcurrentWriterAcrossAKill(EtcdCluster& cluster, Victim which) {
  auto log = std::make_shared<ConnectionLog>();
  auto opened = OpenEtcdStore(cluster.ClientEndpoints(), RecordingOptions(log));
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  auto& store = **opened;
  Recorder recorder;
  auto watcher = store.Watch("/cw/", WatchOptions{.prefix = true}, recorder.Callback());
  ASSERT_TRUE(watcher.has_value()) << watcher.error().message;

  constexpr int kWrites = 60;
  std::atomic<int> done{0};
  std::atomic<bool> failed{false};
  // On an early ASSERT return the jthread asks the writer to stop, then joins it.
  std::jthread writer([&](std::stop_token stop) {
    for (int i = 1; i <= kWrites && !stop.stop_requested(); ++i) {
      if (!CreateOnce(store, "/cw/" + Padded(i), std::to_string(i))) {
        failed = true;
        return;
      }
      done = i;
    }
  });
  ASSERT_TRUE(berth::testing::WaitFor([&] { return done.load() >= 10 || failed.load(); }));
  int victim = -1;
  if (which == Victim::kLeader) {
    ASSERT_TRUE(berth::testing::WaitFor([&] { return (victim = cluster.Leader()) >= 0; }));
  } else {
    std::lock_guard lock(log->mu);
    ASSERT_FALSE(log->watch_endpoints.empty());
    for (int i = 0; i < cluster.size(); ++i) {
      if (cluster.ClientEndpoint(i) == log->watch_endpoints.back()) victim = i;
    }
    ASSERT_GE(victim, 0);
  }
  cluster.KillMember(victim);
  ASSERT_TRUE(berth::testing::WaitFor([&] { return done.load() >= 30 || failed.load(); }, 180s));
  ASSERT_TRUE(cluster.RestartMember(victim));
  writer.join();
  ASSERT_FALSE(failed.load()) << "the writer gave up at " << done.load() + 1;

  ASSERT_TRUE(berth::testing::WaitFor([&] { return recorder.Events().size() >= kWrites; }))
      << recorder.Events().size();
  // One more write: a duplicate of an earlier event would arrive before this one.
  ASSERT_TRUE(CreateOnce(store, "/cw/zz-sentinel", "end"));
  ASSERT_TRUE(berth::testing::WaitFor([&] { return recorder.Events().size() >= kWrites + 1; }));
  auto events = recorder.Events();
  ASSERT_EQ(events.size(), static_cast<size_t>(kWrites + 1));
  for (int i = 0; i < kWrites; ++i) {
    EXPECT_EQ(events[i].kv.key, "/cw/" + Padded(i + 1));
    EXPECT_EQ(events[i].kv.version, 1);
    if (i > 0) {
      EXPECT_GT(events[i].kv.mod_revision, events[i - 1].kv.mod_revision);
    }
  }
  EXPECT_EQ(events.back().kv.key, "/cw/zz-sentinel");
}

TEST_F(EtcdStoreTest, WatchSeesEveryWriteOfAConcurrentWriterWhileItsMemberIsKilled) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(3));
  ConcurrentWriterAcrossAKill(*cluster_, Victim::kWatchedMember);
}

TEST_F(EtcdStoreTest, WatchSeesEveryWriteOfAConcurrentWriterWhileTheLeaderIsKilled) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(3));
  ConcurrentWriterAcrossAKill(*cluster_, Victim::kLeader);
}

TEST_F(EtcdStoreTest, WatchResumesAfterTheWholeClusterWasDown) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(1));
  EtcdOptions options;
  options.watch_retry_max = 200ms;
  auto opened = OpenEtcdStore(cluster_->ClientEndpoints(), options);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  auto& store = **opened;
  Recorder recorder;
  auto watcher = store.Watch("/down/k", {}, recorder.Callback());
  ASSERT_TRUE(watcher.has_value());
  ASSERT_TRUE(store.Put("/down/k", "before").has_value());
  ASSERT_TRUE(berth::testing::WaitFor([&] { return recorder.Events().size() == 1; }));
  cluster_->KillMember(0);
  ASSERT_TRUE(cluster_->RestartMember(0));
  ASSERT_TRUE(store.Put("/down/k", "after").has_value());
  ASSERT_TRUE(store.Delete("/down/k").has_value());
  ASSERT_TRUE(berth::testing::WaitFor([&] { return recorder.Events().size() >= 3; }));
  auto events = recorder.Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.value, "before");
  EXPECT_EQ(events[1].kv.value, "after");
  EXPECT_EQ(events[1].kv.version, 2);
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].kv.mod_revision, events[1].kv.mod_revision + 1);
}

TEST_F(EtcdStoreTest, WritesFailOverWhenTheCurrentMemberDies) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(3));
  auto opened = OpenEtcdStore(cluster_->ClientEndpoints());
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  auto& store = **opened;
  auto first = store.Put("/f/a", "1");
  ASSERT_TRUE(first.has_value());
  // The store starts on the first endpoint; kill it. Once the others have a leader, a write
  // fails over to them (connection refused: known not to have been sent).
  cluster_->KillMember(0);
  ASSERT_TRUE(cluster_->WaitHealthy());
  auto second = store.Put("/f/b", "2");
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->revision, first->revision + 1);
  auto got = store.Get("/f/", RangeOptions{.prefix = true});
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->kvs.size(), 2u);
}

TEST_F(EtcdStoreTest, MapsEtcdErrorsToErrorCodes) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(1));
  auto opened = OpenEtcdStore({cluster_->ClientHostPorts()});
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  auto& store = **opened;
  EXPECT_EQ(store.backend(), "etcd");

  auto keepalive = store.KeepAlive(0x1234567);
  ASSERT_FALSE(keepalive.has_value());
  EXPECT_EQ(keepalive.error().code, ErrorCode::kNotFound) << keepalive.error().message;
  auto revoke = store.RevokeLease(0x1234567);
  ASSERT_FALSE(revoke.has_value());
  EXPECT_EQ(revoke.error().code, ErrorCode::kNotFound) << revoke.error().message;
  auto ttl = store.LeaseTimeToLive(0x1234567);
  ASSERT_TRUE(ttl.has_value());
  EXPECT_EQ(ttl->ttl, -1);

  auto r1 = store.Put("/e/k", "1");
  auto r2 = store.Put("/e/k", "2");
  auto r3 = store.Put("/e/k", "3");
  ASSERT_TRUE(r1 && r2 && r3);
  auto before = store.CompactRevision();
  ASSERT_TRUE(before.has_value()) << before.error().message;
  EXPECT_EQ(*before, 0);
  ASSERT_TRUE(store.Compact(r3->revision).has_value());
  auto after = store.CompactRevision();
  ASSERT_TRUE(after.has_value()) << after.error().message;
  EXPECT_EQ(*after, r3->revision);

  auto old = store.Get("/e/k", RangeOptions{.revision = r1->revision});
  ASSERT_FALSE(old.has_value());
  EXPECT_EQ(old.error().code, ErrorCode::kCompacted) << old.error().message;
  auto future = store.Get("/e/k", RangeOptions{.revision = r3->revision + 100});
  ASSERT_FALSE(future.has_value());
  EXPECT_EQ(future.error().code, ErrorCode::kInvalidArgument) << future.error().message;

  Recorder recorder;
  auto watcher = store.Watch("/e/", WatchOptions{.prefix = true, .start_revision = r1->revision},
                             recorder.Callback());
  ASSERT_TRUE(watcher.has_value()) << watcher.error().message;
  ASSERT_TRUE(berth::testing::WaitFor([&] { return !recorder.Responses().empty(); }));
  auto responses = recorder.Responses();
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_TRUE(responses[0].compacted);
  EXPECT_EQ(responses[0].compact_revision, r3->revision);
  EXPECT_TRUE(responses[0].events.empty());
}

TEST_F(EtcdStoreTest, UnreachableClusterIsUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(1));
  EtcdOptions options;
  options.failover_deadline = 2s;
  auto opened = OpenEtcdStore({cluster_->ClientEndpoint(0)}, options);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  cluster_->KillMember(0);
  auto put = (*opened)->Put("/u/k", "v");
  ASSERT_FALSE(put.has_value());
  EXPECT_EQ(put.error().code, ErrorCode::kUnavailable) << put.error().message;

  auto never = OpenEtcdStore({"127.0.0.1:" + std::to_string(berth::testing::FreePort())}, options);
  ASSERT_FALSE(never.has_value());
  EXPECT_EQ(never.error().code, ErrorCode::kUnavailable) << never.error().message;
  auto bad = OpenEtcdStore({});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::store
