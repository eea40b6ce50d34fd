// An in-memory Env for the log store's tests, with faults on demand: appends that fail
// (all of them, or once a byte budget is spent, leaving a torn partial write behind as a
// full disk does), syncs that fail, and Crash(), which drops every byte not synced, as a
// power cut would. Directories exist implicitly.
// Thread-safety: every method is safe from any thread (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "logs/env.h"

namespace berth::logs::testing {

class MemEnv final : public Env {
 public:
  MemEnv() = default;

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  Result<std::string> ReadFile(const std::string& path) override;
  Result<void> WriteFileAtomic(const std::string& path, std::string_view data) override;
  bool FileExists(const std::string& path) override;
  Result<std::vector<std::string>> Children(const std::string& dir) override;
  Result<void> CreateDirs(const std::string& dir) override { return {}; }
  Result<void> RemoveFile(const std::string& path) override;
  Result<void> Truncate(const std::string& path, uint64_t size) override;
  Result<void> SyncDir(const std::string& dir) override { return {}; }

  // Appends fail once `bytes` more have been written; the append that crosses the budget
  // writes its first part (a torn write) and fails. Negative: no budget (the default).
  void FailWritesAfter(int64_t bytes);
  // Every Sync fails while set.
  void FailSyncs(bool on);
  // Drops the bytes of every file written after its last successful Sync.
  void Crash();
  // Flips one byte of `path` at `offset` (corruption on disk).
  void Corrupt(const std::string& path, uint64_t offset);
  uint64_t FileSize(const std::string& path);

  struct File {
    std::string data;
    uint64_t synced = 0;
  };

 private:
  friend class MemWritableFile;
  Result<void> AppendTo(const std::string& path, std::string_view data);
  Result<void> SyncFile(const std::string& path);

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<File>> files_;  // guarded by mu_
  int64_t write_budget_ = -1;                           // guarded by mu_
  bool fail_syncs_ = false;                             // guarded by mu_
};

}  // namespace berth::logs::testing
