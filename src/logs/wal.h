// The log store's write-ahead log: every accepted push is one framed record in the current
// WAL file before it touches memory, and is acknowledged once a sync covers it (group commit:
// one fdatasync for every push that arrived while the previous one ran). Files are
// `<dir>/NNNNNNNNNNNNNNNN.wal`, rotated at a size; a file is removed once the chunks holding
// its records are durable in segments (the store decides when). Opening replays every file
// in order; a torn or corrupt tail of a file (a crash mid-write) ends that file's replay.
// Thread-safety: Append and Rotate from the store's writer (under its lock); Sync from any
// thread; RemoveThrough from the flusher.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/error.h"
#include "logs/env.h"

namespace berth::logs {

struct WalReplayStats {
  uint64_t records = 0;
  uint64_t torn_files = 0;  // files whose tail was cut (torn write or corruption)
  uint64_t max_lsn = 0;
};

class Wal {
 public:
  // Replays every record (in order) to `replay`, then opens a new file for appends.
  static Result<std::unique_ptr<Wal>> Open(
      Env& env, std::string dir, uint64_t file_bytes,
      const std::function<Result<void>(uint64_t lsn, std::string_view record)>& replay,
      WalReplayStats* stats);

  // Appends one record carrying `lsn` (the caller's sequence number, rising); rotates first
  // when the current file is full. On a failed write the file is cut back to its last whole
  // record and the next append starts a new file, so a failure loses only the failed record.
  Result<void> Append(uint64_t lsn, std::string_view record);
  // Returns once every record appended before the call is durable.
  Result<void> Sync();
  // Removes the files all of whose records have lsn <= `lsn`, except the current one.
  Result<void> RemoveThrough(uint64_t lsn);
  // Files on disk and the newest lsn in each (the current file included).
  std::map<uint64_t, uint64_t> Files() const;

 private:
  Wal(Env& env, std::string dir, uint64_t file_bytes)
      : env_(env), dir_(std::move(dir)), file_bytes_(file_bytes) {}
  Result<void> OpenNextLocked();
  std::string FilePath(uint64_t seq) const;

  Env& env_;
  const std::string dir_;
  const uint64_t file_bytes_;

  mutable std::mutex mu_;
  std::shared_ptr<WritableFile> file_;  // guarded by mu_
  uint64_t file_seq_ = 0;               // guarded by mu_
  uint64_t good_size_ = 0;              // guarded by mu_: bytes of whole records in file_
  bool broken_ = false;                 // guarded by mu_: start a new file before appending
  std::map<uint64_t, uint64_t> files_;  // guarded by mu_: seq -> newest lsn (0: none yet)
  uint64_t appended_ = 0;               // guarded by mu_: count of appends

  std::mutex sync_mu_;   // one fdatasync at a time; the others wait and find theirs done
  uint64_t synced_ = 0;  // guarded by sync_mu_: appends covered by a sync
};

}  // namespace berth::logs
