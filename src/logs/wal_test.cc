#include "logs/wal.h"

#include <gtest/gtest.h>

#include "logs/testing/mem_env.h"

namespace berth::logs {
namespace {

struct Replayed {
  std::vector<std::pair<uint64_t, std::string>> records;
  Result<std::unique_ptr<Wal>> Open(Env& env, uint64_t file_bytes = 1 << 20) {
    records.clear();
    return Wal::Open(
        env, "/w", file_bytes,
        [this](uint64_t lsn, std::string_view r) -> Result<void> {
          records.emplace_back(lsn, std::string(r));
          return {};
        },
        nullptr);
  }
};

TEST(Wal, RecordsReplayInOrderAcrossRotatedFiles) {
  testing::MemEnv env;
  Replayed rp;
  {
    auto wal = rp.Open(env, 64);
    ASSERT_TRUE(wal);
    for (uint64_t i = 1; i <= 10; ++i)
      ASSERT_TRUE((*wal)->Append(i, "record " + std::to_string(i)));
    ASSERT_TRUE((*wal)->Sync());
    EXPECT_GT((*wal)->Files().size(), 2u);
  }
  auto wal = rp.Open(env, 64);
  ASSERT_TRUE(wal);
  ASSERT_EQ(rp.records.size(), 10u);
  for (uint64_t i = 1; i <= 10; ++i) {
    EXPECT_EQ(rp.records[i - 1], std::make_pair(i, "record " + std::to_string(i)));
  }
}

TEST(Wal, ACrashLosesOnlyWhatWasNotSynced) {
  testing::MemEnv env;
  Replayed rp;
  {
    auto wal = rp.Open(env);
    ASSERT_TRUE(wal);
    ASSERT_TRUE((*wal)->Append(1, "synced"));
    ASSERT_TRUE((*wal)->Sync());
    ASSERT_TRUE((*wal)->Append(2, "not synced"));
    env.Crash();
  }
  auto wal = rp.Open(env);
  ASSERT_TRUE(wal);
  ASSERT_EQ(rp.records.size(), 1u);
  EXPECT_EQ(rp.records[0].second, "synced");
}

TEST(Wal, AFailedWriteIsCutAndLaterRecordsStillReplay) {
  testing::MemEnv env;
  Replayed rp;
  {
    auto wal = rp.Open(env);
    ASSERT_TRUE(wal);
    ASSERT_TRUE((*wal)->Append(1, "one"));
    env.FailWritesAfter(5);  // the next record is torn half way
    EXPECT_FALSE((*wal)->Append(2, "two two two two"));
    env.FailWritesAfter(-1);
    ASSERT_TRUE((*wal)->Append(3, "three"));
    ASSERT_TRUE((*wal)->Sync());
  }
  auto wal = rp.Open(env);
  ASSERT_TRUE(wal);
  ASSERT_EQ(rp.records.size(), 2u);
  EXPECT_EQ(rp.records[0].second, "one");
  EXPECT_EQ(rp.records[1].second, "three");
}

TEST(Wal, RemoveThroughKeepsFilesWithNewerRecordsAndTheCurrentOne) {
  testing::MemEnv env;
  Replayed rp;
  auto wal = rp.Open(env, 40);
  ASSERT_TRUE(wal);
  for (uint64_t i = 1; i <= 6; ++i) ASSERT_TRUE((*wal)->Append(i, "r" + std::to_string(i)));
  size_t before = (*wal)->Files().size();
  ASSERT_TRUE((*wal)->RemoveThrough(3));
  auto files = (*wal)->Files();
  EXPECT_LT(files.size(), before);
  for (auto [seq, newest] : files) EXPECT_TRUE(newest > 3 || newest == 0) << seq;
  wal->reset();
  (void)rp.Open(env, 40);
  ASSERT_FALSE(rp.records.empty());
  EXPECT_EQ(rp.records.back().first, 6u);
  EXPECT_GE(rp.records.front().first, 3u);
}

}  // namespace
}  // namespace berth::logs
