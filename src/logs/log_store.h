// The log center's storage engine. A push is validated (labels, limits, timestamps), written
// to the WAL and added to its stream's head (an uncompressed chunk in memory); a head is cut
// into a zstd chunk when it reaches `chunk_target_bytes`, grows old, or memory or the WAL
// need room, and a flusher thread appends cut chunks to their namespace's current segment
// file. Streams are grouped by namespace (the `namespace` label; `default_namespace` when
// absent): each namespace has its own directory, stream table, segments, retention (age and
// bytes) and stream-count limit.
//
//   <dir>/wal/<seq>.wal                    pushes not yet in a durable segment
//   <dir>/ns/<namespace>/streams           the namespace's streams: id and labels
//   <dir>/ns/<namespace>/<seq>.seg, .idx   chunks, and the index of a sealed segment
//   <dir>/state                            newest batch number per shipper (idempotent push),
//                                          the WAL floor (records at or below it are in
//                                          segments) and tombstones of streams retention
//                                          dropped while the WAL still held their records
//
// In memory: per stream its labels, its chunks' metadata (the time index) and its head; per
// namespace an inverted index label name -> value -> streams (the label index).
// Readers take snapshots (chunk metadata, copies of heads) under the lock and read and
// decompress chunks outside it.
// Thread-safety: every public method is safe from any thread. `mu_` guards the streams, heads
// and indexes; the flusher thread alone writes segments.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "logs/chunk.h"
#include "logs/env.h"
#include "logs/labels.h"
#include "logs/matcher.h"

namespace berth::logs {

class Wal;
class SegmentWriter;
class RandomAccessFile;

struct NamespaceLimits {
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;  // entries older are removed (whole segments)
  uint64_t max_bytes = 0;                         // stored bytes; 0: no limit
  size_t max_streams = 10000;                     // streams at once
};

struct LogStoreOptions {
  std::string dir;
  uint64_t chunk_target_bytes = 1 << 20;  // raw bytes of a head before it is cut
  uint64_t head_budget_bytes = 64 << 20;  // all heads together; over it the largest are cut
  int64_t head_max_age_ms = 5 * 60 * 1000;
  uint64_t segment_target_bytes = 64 << 20;
  int64_t segment_max_age_ms = 60 * 60 * 1000;  // a segment open this long is sealed
  uint64_t wal_file_bytes = 64 << 20;
  size_t wal_max_files = 4;                           // more: heads of the oldest file are cut
  int64_t out_of_order_window_ns = 3600'000'000'000;  // behind the stream's newest entry
  int64_t max_future_ns = 600'000'000'000;            // ahead of the wall clock
  size_t max_line_bytes = 256 * 1024;
  int compression_level = 3;
  bool sync = true;        // fdatasync the WAL before a push is acknowledged
  bool background = true;  // a maintenance thread calls Tick() every second
  LabelLimits label_limits;
  NamespaceLimits default_limits;
  std::map<std::string, NamespaceLimits> namespace_limits;
  std::string default_namespace = "default";
};

struct PushStream {
  LabelSet labels;
  std::vector<Entry> entries;
};

struct PushRequest {
  std::vector<PushStream> streams;
  // A shipper's identity and batch number: a batch whose number is not above the last one
  // stored for its source is acknowledged without being stored again (a retry after a lost
  // answer). Empty source: no deduplication.
  std::string source;
  uint64_t seq = 0;
};

struct PushResult {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  bool duplicate = false;
  // One per kind of problem (too old, too long, stream limit...), naming the stream.
  std::vector<Error> errors;
};

struct StreamRef {
  std::string ns;
  uint64_t id = 0;
  LabelSet labels;
};

// A stream's data overlapping a time range: its stored chunks and copies of what is in memory.
struct StreamSnapshot {
  std::vector<ChunkMeta> chunks;
  std::vector<DecodedChunk> heads;  // decoded, sorted by time each
};

struct LogStoreStats {
  uint64_t streams = 0;
  uint64_t chunks = 0;
  uint64_t stored_bytes = 0;  // segment files
  uint64_t raw_bytes = 0;     // line bytes in those chunks
  uint64_t entries = 0;       // in chunks and heads
  uint64_t head_bytes = 0;
  uint64_t segments = 0;
};

// Called for every accepted stream batch, under the store's lock: copy what you need, do not
// call back into the store.
using TailFn = std::function<void(const StreamRef& stream, const std::vector<Entry>& entries)>;

class LogStore {
 public:
  // Opens (creating) the store in options.dir, loading indexes and replaying the WAL.
  static Result<std::unique_ptr<LogStore>> Open(LogStoreOptions options, Env& env, Clock& clock);
  // Flushes every head into segments and stops the threads.
  ~LogStore();
  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  // Stores what is valid in `request` and says what was refused and why. Fails as a whole
  // (nothing stored) only when the WAL cannot be written.
  Result<PushResult> Push(PushRequest&& request);

  // Streams whose labels match every matcher, in namespaces `ns_allowed` accepts (null: all).
  std::vector<StreamRef> Select(const std::vector<LabelMatcher>& matchers,
                                const std::function<bool(std::string_view)>& ns_allowed) const;
  // The stream's chunks overlapping [from, to] (nanoseconds, inclusive) and its head data.
  StreamSnapshot Snapshot(const StreamRef& stream, int64_t from, int64_t to) const;
  // Reads and decompresses one chunk.
  Result<DecodedChunk> ReadChunk(const std::string& ns, const ChunkMeta& meta) const;
  // Label names and one label's values over the streams `ns_allowed` accepts.
  std::vector<std::string> LabelNames(
      const std::function<bool(std::string_view)>& ns_allowed) const;
  std::vector<std::string> LabelValues(
      std::string_view name, const std::function<bool(std::string_view)>& ns_allowed) const;
  std::vector<std::string> Namespaces() const;
  // The namespace a stream with these labels is stored in: its `namespace` label, or the
  // default namespace when it has none.
  std::string NamespaceOf(const LabelSet& labels) const;

  // Registers a live-tail observer; returns its id for RemoveTail.
  uint64_t AddTail(TailFn fn);
  void RemoveTail(uint64_t id);

  // Maintenance: cuts old heads, seals old segments, applies retention. Runs every second on
  // the maintenance thread when options.background; tests call it with a ManualClock.
  void Tick();
  // Cuts every head and waits until the flusher has written them all durably.
  Result<void> Flush();
  LogStoreStats Stats() const;
  // The newest WAL record sequence number stored.
  uint64_t last_lsn() const;

 private:
  struct Stream;
  struct Namespace;
  struct FlushItem;
  struct Planned;

  LogStore(LogStoreOptions options, Env& env, Clock& clock);
  Result<void> Load();
  Result<void> LoadNamespace(const std::string& name);
  Result<void> Replay(uint64_t lsn, std::string_view record);
  Namespace& NamespaceLocked(const std::string& name);
  const NamespaceLimits& LimitsFor(const std::string& ns) const;
  Result<Stream*> CreateStreamLocked(Namespace& ns, const LabelSet& labels,
                                     const std::string& canonical);
  Error StreamLimitError(const Namespace& ns, const LabelSet& labels,
                         const std::vector<LabelSet>& planned) const;
  void PlanPushLocked(PushRequest& request, std::vector<Planned>& plan, PushResult& result);
  void ApplyLocked(Stream& stream, Namespace& ns, std::vector<Entry>& entries, uint64_t lsn);
  void CutLocked(Namespace& ns, Stream& stream);
  void RelieveMemoryLocked();
  void RelieveWalLocked();
  void DropStreamLocked(Namespace& ns, Stream& stream);
  void FlusherLoop();
  Result<void> WriteFlushItems(std::vector<std::unique_ptr<FlushItem>>& items);
  Result<void> SealIfDue(Namespace& ns, bool force);
  void ApplyRetention();
  Result<void> RewriteStreamTable(Namespace& ns);
  void MaintenanceLoop();
  std::string EncodeStateLocked();
  Result<void> LoadState();
  // Writes the state file when it changed; the WAL may lose files only after.
  Result<void> SaveState();
  uint64_t OldestNeededLsnLocked() const;
  std::shared_ptr<RandomAccessFile> SegmentFile(const std::string& ns, uint64_t seq) const;

  const LogStoreOptions options_;
  Env& env_;
  Clock& clock_;
  std::unique_ptr<Wal> wal_;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Namespace>> namespaces_;  // guarded by mu_
  std::map<std::string, uint64_t> sources_;                       // guarded by mu_
  uint64_t floor_lsn_ = 0;                                        // guarded by mu_
  // (namespace, canonical labels) -> the newest lsn of a dropped stream's stored entries.
  std::map<std::pair<std::string, std::string>, uint64_t> tombstones_;  // guarded by mu_
  bool state_dirty_ = false;                                            // guarded by mu_
  uint64_t flush_failures_ = 0;                                         // guarded by mu_
  bool retry_now_ = false;                                              // guarded by mu_
  uint64_t lsn_ = 0;                                                    // guarded by mu_
  uint64_t head_bytes_ = 0;                                             // guarded by mu_
  std::multiset<uint64_t> pending_lsns_;  // guarded by mu_: first lsn of each head and flush
  std::map<uint64_t, TailFn> tails_;      // guarded by mu_
  uint64_t next_tail_ = 1;                // guarded by mu_
  bool replaying_ = false;                // guarded by mu_

  std::deque<std::unique_ptr<FlushItem>> flush_queue_;  // guarded by mu_
  uint64_t flush_enqueued_ = 0;                         // guarded by mu_
  uint64_t flush_done_ = 0;                             // guarded by mu_
  Error flush_error_;                                   // guarded by mu_
  bool flush_failed_ = false;                           // guarded by mu_
  bool stopping_ = false;                               // guarded by mu_
  std::condition_variable flush_cv_;                    // flusher waits for work
  std::condition_variable flushed_cv_;                  // Flush() waits for the flusher
  std::thread flusher_;

  std::mutex tick_mu_;   // one Tick at a time (segments, retention)
  std::mutex state_mu_;  // one writer of the state file at a time
  std::condition_variable maint_cv_;
  std::thread maintenance_;
};

}  // namespace berth::logs
