// The audit trail: one record per mutating API call (who, what, when, result), kept in the
// store. Append-only from the API's point of view; old records are trimmed by count.
//
// Writing: Record() queues the record and returns at once; one writer thread stores what is
// queued as one key per batch (at most `max_batch` records): `/security/audit/<ms:016>-
// <seq:08>+<n>`, named by the batch's first record so keys sort by time, holding a JSON array
// of its n records, oldest first. So a burst of mutating calls costs one extra key in the
// store's group commit rather than one each, and no API thread waits for an audit fsync.
// (Keys without `+<n>` hold one record as an object: how records were stored before.) A record is
// durable within one store commit after Record() returns (the API sends its response first, then
// records). List() and Flush() wait for everything queued before them, so a reader always sees the
// calls made before it asked.
//
// Shutdown: Close() stops accepting, stores what is queued (for at most `close_timeout`;
// records still queued after that are counted as lost and logged), and joins the writer. Call
// it after the API has stopped and before the store closes; the destructor calls it too.
// Thread-safety: safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

namespace berth::security {

// Where the audit trail lives in the store (one key per batch below it).
inline constexpr std::string_view kAuditKeyPrefix = "/security/audit/";

struct AuditRecord {
  int64_t time_ms = 0;
  std::string actor;  // token name (or "anonymous")
  std::string token_id;
  std::string action;  // "PUT /v1/kv/apps/x"
  int status = 0;      // HTTP status of the result
  std::string result;  // "ok" or the error message
  std::string remote;  // client address
};

// A record's stored value: one JSON object (keys sorted), strings that are not UTF-8 with
// U+FFFD in their place. EncodeAuditRecordViaJson is the same through a Json tree (the
// reference the hand-written one must equal; for tests).
std::string EncodeAuditRecord(const AuditRecord& record);
std::string EncodeAuditRecordViaJson(const AuditRecord& record);

struct AuditOptions {
  // Records stored under one key.
  size_t max_batch = 100;
  // Records queued beyond this are refused (counted as lost) rather than growing memory
  // without bound while the store is down.
  size_t max_queue = 100'000;
  // Records kept (at least; up to one batch more); older ones are trimmed now and then.
  int64_t keep = 10'000;
  // Longest Close() spends storing what is still queued.
  std::chrono::milliseconds close_timeout{5'000};
};

struct AuditStats {
  int64_t recorded = 0;  // records stored
  int64_t lost = 0;      // records refused or whose store write failed
  int64_t batches = 0;   // store writes (keys) made
};

class AuditLog {
 public:
  AuditLog(store::Store& store, Clock& clock, AuditOptions options = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues the record (time and sequence are fixed now). kUnavailable after Close(),
  // kResourceExhausted when `max_queue` records are waiting.
  Result<void> Record(AuditRecord record);
  // Waits until every record queued before the call has been written (or failed), for at most
  // `timeout`; kDeadlineExceeded when it did not get there.
  Result<void> Flush(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Newest first, at most `limit`; includes every record queued before the call.
  Result<std::vector<AuditRecord>> List(int64_t limit);
  // See the header comment. Idempotent.
  void Close();

  AuditStats stats() const;

 private:
  struct Queued {
    uint64_t seq = 0;
    int64_t time_ms = 0;
    std::string value;  // the record's JSON object
  };
  void WriterLoop();
  void Store(std::vector<Queued>& batch);
  void Trim();

  store::Store& store_;
  Clock& clock_;
  const AuditOptions options_;

  mutable std::mutex mu_;            // guards everything below
  std::condition_variable work_cv_;  // writer: records queued or closing
  std::condition_variable done_cv_;  // Flush: written_seq_ moved or writer gone
  std::deque<Queued> queue_;
  uint64_t next_seq_ = 1;     // sequence of the next record
  uint64_t written_seq_ = 0;  // every record with seq <= this is written (or failed)
  bool closing_ = false;
  bool writer_done_ = false;
  std::chrono::steady_clock::time_point close_deadline_{};  // real time, set by Close()
  AuditStats stats_;
  std::thread writer_;  // last: started after everything above exists
};

}  // namespace berth::security
