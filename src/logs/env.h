// The log center's view of the file system, after LevelDB's Env: every file the log store
// reads or writes (WAL, segments, indexes, stream tables) goes through one `Env`, so tests
// swap in an in-memory one that injects faults (failed writes and syncs, a crash that drops
// what was not synced) instead of needing a broken disk. `PosixEnv()` is the real one.
// Thread-safety: an Env is safe from any thread; a WritableFile is used by one thread at a
// time; a RandomAccessFile is safe from any thread (pread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::logs {

// A file written at its end only.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Result<void> Append(std::string_view data) = 0;
  // Makes what was appended durable (fdatasync).
  virtual Result<void> Sync() = 0;
  virtual Result<void> Close() = 0;
  // Bytes in the file (existing content + what was appended).
  virtual uint64_t Size() const = 0;
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to `n` bytes at `offset` into `out` (resized to what was read: short at the end).
  virtual Result<void> Read(uint64_t offset, size_t n, std::string& out) const = 0;
  virtual uint64_t Size() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // Opens `path` for appending, creating it when absent (an existing file keeps its content).
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // The whole file; kNotFound when absent.
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Writes `data` to `path` atomically (temp file, fsync, rename, fsync of the directory).
  virtual Result<void> WriteFileAtomic(const std::string& path, std::string_view data) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`; kNotFound when absent.
  virtual Result<std::vector<std::string>> Children(const std::string& dir) = 0;
  virtual Result<void> CreateDirs(const std::string& dir) = 0;
  virtual Result<void> RemoveFile(const std::string& path) = 0;
  // Shortens `path` to `size` bytes (a torn tail cut at recovery).
  virtual Result<void> Truncate(const std::string& path, uint64_t size) = 0;
  // Makes the directory's entries (created, renamed, removed files) durable.
  virtual Result<void> SyncDir(const std::string& dir) = 0;
};

// The process's real file system. One instance, never destroyed.
Env& PosixEnv();

// "a/b" + "c" -> "a/b/c".
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace berth::logs
