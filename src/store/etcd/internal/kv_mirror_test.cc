// The keyspace mirror answers ranges as etcd does and tracks the revision it reflects.
#include "store/etcd/internal/kv_mirror.h"

#include <gtest/gtest.h>

#include <thread>

namespace berth::store::etcd_internal {
namespace {

using namespace std::chrono_literals;

KeyValue Kv(std::string key, std::string value, int64_t rev, int64_t version = 1) {
  return KeyValue{.key = std::move(key),
                  .value = std::move(value),
                  .create_revision = rev,
                  .mod_revision = rev,
                  .version = version};
}

Event Put(KeyValue kv) { return Event{.type = Event::Type::kPut, .kv = std::move(kv)}; }
Event Del(std::string key, int64_t rev) {
  return Event{.type = Event::Type::kDelete,
               .kv = KeyValue{.key = std::move(key), .mod_revision = rev}};
}

std::vector<std::string> Keys(const RangeResult& r) {
  std::vector<std::string> out;
  for (const auto& kv : r.kvs) out.push_back(kv.key);
  return out;
}

class KvMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mirror_.Load({Kv("/a/1", "x", 2), Kv("/a/2", "y", 3), Kv("/b", "z", 4)}, 10);
    mirror_.SetLive(true);
  }
  KvMirror mirror_;
};

TEST_F(KvMirrorTest, NotReadableUntilLoadedAndLive) {
  KvMirror fresh;
  EXPECT_FALSE(fresh.ready());
  EXPECT_FALSE(fresh.Read("/a", {}).has_value());
  fresh.Load({}, 5);
  EXPECT_FALSE(fresh.ready()) << "loaded but its feed is not connected";
  fresh.SetLive(true);
  EXPECT_TRUE(fresh.ready());
  mirror_.SetLive(false);
  EXPECT_FALSE(mirror_.Read("/a/1", {}).has_value());
}

TEST_F(KvMirrorTest, ReadsKeysPrefixesAndRangesInByteOrder) {
  auto one = mirror_.Read("/a/1", {});
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->kvs.size(), 1u);
  EXPECT_EQ(one->kvs[0].value, "x");
  EXPECT_EQ(one->revision, 10);
  EXPECT_EQ(one->count, 1);
  EXPECT_TRUE(mirror_.Read("/a", {})->kvs.empty());
  EXPECT_EQ(Keys(*mirror_.Read("/a/", {.prefix = true})),
            (std::vector<std::string>{"/a/1", "/a/2"}));
  EXPECT_EQ(Keys(*mirror_.Read("/a/2", {.range_end = "/c"})),
            (std::vector<std::string>{"/a/2", "/b"}));
  EXPECT_EQ(Keys(*mirror_.Read("", {.prefix = true})),
            (std::vector<std::string>{"/a/1", "/a/2", "/b"}));
  EXPECT_EQ(Keys(*mirror_.Read("/a/2", {.range_end = std::string(1, '\0')})),
            (std::vector<std::string>{"/a/2", "/b"}));
}

TEST_F(KvMirrorTest, LimitCountsEveryMatchAndSaysMore) {
  auto r = mirror_.Read("", {.prefix = true, .limit = 2});
  EXPECT_EQ(Keys(*r), (std::vector<std::string>{"/a/1", "/a/2"}));
  EXPECT_EQ(r->count, 3);
  EXPECT_TRUE(r->more);
  auto all = mirror_.Read("", {.prefix = true, .limit = 3});
  EXPECT_FALSE(all->more);
  auto counted = mirror_.Read("/a/", {.prefix = true, .count_only = true});
  EXPECT_TRUE(counted->kvs.empty());
  EXPECT_EQ(counted->count, 2);
  auto keys = mirror_.Read("/b", {.keys_only = true});
  ASSERT_EQ(keys->kvs.size(), 1u);
  EXPECT_EQ(keys->kvs[0].value, "");
  EXPECT_EQ(keys->kvs[0].mod_revision, 4);
}

TEST_F(KvMirrorTest, AppliesEventsAndSkipsRevisionsAlreadyApplied) {
  mirror_.Apply({Put(Kv("/a/1", "x2", 11, 2)), Del("/b", 11)});
  EXPECT_EQ(mirror_.revision(), 11);
  EXPECT_EQ(mirror_.Read("/a/1", {})->kvs[0].value, "x2");
  EXPECT_TRUE(mirror_.Read("/b", {})->kvs.empty());
  // A resumed feed replays revision 11 before 12: the replay changes nothing.
  mirror_.Apply({Put(Kv("/b", "stale", 11)), Put(Kv("/c", "new", 12))});
  EXPECT_TRUE(mirror_.Read("/b", {})->kvs.empty());
  EXPECT_EQ(mirror_.Read("/c", {})->kvs[0].value, "new");
  EXPECT_EQ(mirror_.revision(), 12);
  mirror_.Progress(20);
  EXPECT_EQ(mirror_.revision(), 20);
  mirror_.Progress(15);
  EXPECT_EQ(mirror_.revision(), 20) << "progress never goes back";
}

TEST_F(KvMirrorTest, WaitForReturnsOnceTheRevisionIsAppliedOrTheFeedIsLost) {
  EXPECT_TRUE(mirror_.WaitFor(10, std::chrono::steady_clock::now()));
  std::thread feeder([&] {
    std::this_thread::sleep_for(20ms);
    mirror_.Apply({Put(Kv("/d", "1", 11))});
  });
  EXPECT_TRUE(mirror_.WaitFor(11, std::chrono::steady_clock::now() + 60s));
  feeder.join();
  std::thread loser([&] {
    std::this_thread::sleep_for(20ms);
    mirror_.SetLive(false);
  });
  EXPECT_FALSE(mirror_.WaitFor(99, std::chrono::steady_clock::now() + 60s))
      << "a lost feed must not keep readers waiting";
  loser.join();
  EXPECT_FALSE(mirror_.WaitFor(99, std::chrono::steady_clock::now()));
}

TEST_F(KvMirrorTest, WaitersRunOnceTheirRevisionIsAppliedOrWithFalseWhenTheFeedIsLost) {
  std::vector<std::string> log;
  EXPECT_EQ(mirror_.WhenReached(10, [&](bool ok) { log.push_back(ok ? "10 now" : "10 lost"); }),
            0u);
  EXPECT_EQ(log, (std::vector<std::string>{"10 now"})) << "an applied revision answers at once";
  mirror_.WhenReached(12, [&](bool ok) { log.push_back(ok ? "12" : "12 lost"); });
  mirror_.WhenReached(11, [&](bool ok) { log.push_back(ok ? "11" : "11 lost"); });
  uint64_t expired =
      mirror_.WhenReached(13, [&](bool ok) { log.push_back(ok ? "13" : "13 expired"); });
  mirror_.WhenReached(20, [&](bool ok) { log.push_back(ok ? "20" : "20 lost"); });
  mirror_.Apply({Put(Kv("/d", "1", 11))});
  EXPECT_EQ(log.back(), "11");
  mirror_.Apply({Put(Kv("/d", "2", 12))});
  EXPECT_EQ(log.back(), "12");
  mirror_.Expire(expired);
  EXPECT_EQ(log.back(), "13 expired");
  mirror_.Expire(expired);  // once only
  mirror_.SetLive(false);
  EXPECT_EQ(log, (std::vector<std::string>{"10 now", "11", "12", "13 expired", "20 lost"}));
  mirror_.WhenReached(1, [&](bool ok) { log.push_back(ok ? "1" : "1 not ready"); });
  EXPECT_EQ(log.back(), "1 not ready");
}

TEST_F(KvMirrorTest, InvalidateForgetsTheContentUntilLoadedAgain) {
  mirror_.Invalidate();
  EXPECT_FALSE(mirror_.ready());
  mirror_.Apply({Put(Kv("/x", "1", 30))});
  mirror_.Load({Kv("/y", "2", 31)}, 31);
  mirror_.SetLive(true);
  EXPECT_TRUE(mirror_.Read("/x", {})->kvs.empty());
  EXPECT_EQ(mirror_.Read("/y", {})->kvs.size(), 1u);
  EXPECT_EQ(mirror_.size(), 1u);
}

}  // namespace
}  // namespace berth::store::etcd_internal

namespace berth::store::etcd_internal {
namespace {

TEST(KvMirrorUncachedTest, KeepsNoKeysUnderUncachedPrefixesButFollowsTheirRevisions) {
  KvMirror mirror({"/audit/"});
  mirror.Load({Kv("/a", "1", 2), Kv("/audit/1", "big", 3)}, 3);
  mirror.SetLive(true);
  mirror.Apply({Put(Kv("/audit/2", "big", 4))});
  EXPECT_EQ(mirror.revision(), 4) << "an uncached key's event still moves the mirror on";
  EXPECT_EQ(mirror.size(), 1u);
  EXPECT_FALSE(mirror.Read("/audit/", {.prefix = true}).has_value()) << "etcd answers that";
  EXPECT_FALSE(mirror.Read("/audit/1", {}).has_value());
  EXPECT_FALSE(mirror.Read("", {.prefix = true}).has_value()) << "every key includes them";
  EXPECT_FALSE(mirror.Read("/a", {.range_end = "/b"}).has_value());
  EXPECT_TRUE(mirror.Read("/a", {}).has_value());
  EXPECT_TRUE(mirror.Read("/a", {.range_end = "/audit/"}).has_value()) << "ends where they begin";
  EXPECT_TRUE(mirror.Read("/audit0", {.prefix = true}).has_value()) << "begins past them";
  EXPECT_TRUE(mirror.Covers("/b/", {.prefix = true}));
  EXPECT_FALSE(mirror.Covers("/audit/x", {}));
}

}  // namespace
}  // namespace berth::store::etcd_internal
