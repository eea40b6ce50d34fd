// The embedded `sqlite` Store back-end: etcd v3 semantics (see store/store.h) over one SQLite
// file in WAL mode. Berth's default store (`berthd dev`, single-server installs).
//
// - Durability: a write is acknowledged, visible to readers and published to watchers only
//   after the SQLite transaction holding it has committed and its WAL frames are fsynced.
// - Group commit, pipelined: one writer thread takes every queued write from concurrent
//   callers, applies them in order in one SQLite transaction (each write in its own
//   savepoint, so one failing write fails alone) and commits it without waiting for the disk
//   (synchronous=NORMAL). A syncer thread fdatasyncs the WAL and hands the batch to a
//   publisher thread, which, in commit order, updates the live view and the revision,
//   publishes the events and wakes the callers while the next fsync runs. While batch N is
//   being fsynced the writer applies what arrives meanwhile into batch N+1, and commits it
//   when the syncer is free (or the batch is full): each fsync still covers everything that
//   queued during the previous one, and applying overlaps the disk (as etcd's raft loop
//   overlaps its WAL fsync with the next proposals). The writer's connection writes each
//   commit's WAL frames with one write, not two per page (wal_vfs.h). A failed fsync (or
//   failed write of gathered frames) stops the store taking writes (kUnavailable) until it is
//   reopened.
// - MVCC: every change is a row (key, mod_revision), so reads at old revisions and watch
//   replay come from history until Compact() forgets it (docs/decisions/0001).
// - Reads at the latest revision come from an in-memory view of the live keys, updated by
//   the publisher once each commit is durable (`cache_current`); reads at older revisions run on a
//   pool of read connections (WAL readers run beside the writer).
// - Watches: an in-process hub (watch_hub.h) with one dispatcher thread for callbacks.
// - Leases: granted TTLs are stored; expiry deadlines live in memory on the injected Clock.
//   On reopen every lease gets its full TTL again, counted from the reopen (as etcd refreshes
//   leases when a new leader takes over). A reaper thread checks every
//   `lease_check_interval` and revokes each expired lease (its keys deleted in one revision).
// - One process, one store per file: the file is locked (flock on `<path>.lock`).
//
// Thread-safety: every Store method may be called from any thread concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

namespace berth::store {

struct SqliteOptions {
  // Most writes committed in one SQLite transaction.
  size_t max_batch = 1024;
  // Read connections kept open (more are not opened; readers wait for a free one).
  size_t max_readers = 8;
  // How often the reaper compares lease deadlines with the Clock (real time between checks).
  std::chrono::milliseconds lease_check_interval{100};
  // false: synchronous=NORMAL (a crash may lose the last acknowledged writes). Tests only.
  bool durable = true;
  // Serve reads at the latest revision from an in-memory copy of the live keys and values
  // (etcd keeps its key index in memory; we keep the values too). Costs memory equal to the
  // live data set; reads at older revisions, watch replay and writes use SQLite regardless.
  bool cache_current = true;
  // A watch whose callback falls this many events behind stops queueing them in memory and
  // catches up from history (it may then be compacted, as a slow etcd watcher may).
  size_t watch_max_pending_events = 10000;
  // Compact(rev) deletes history in steps, each a write request of its own covering at most
  // about this many rows written since the previous compact revision, with a pause as long
  // as the step between steps, so the writer (and every write queued behind a compaction)
  // waits for one bounded step at a time rather than for the whole history (bench/
  // store_inproc --compaction only: a few ms per 256-row step). 0: one step.
  size_t compact_step_rows = 256;
  // SQLite's wal_autocheckpoint: once a commit leaves the WAL this many pages long, that
  // commit copies the WAL into the database file and fsyncs it (a "checkpoint"), and the next
  // writes start the WAL over. The writer waits for it, and so does every write queued
  // behind: its fsync of the database file is the fixed cost (~3.5 ms here), so fewer, larger
  // checkpoints cost writes less time in total (SQLite's default of 1000 pages spent ~12% of
  // the writer's time in checkpoints under a steady write load; decision 0001). The WAL file
  // grows to about this many pages (4 KiB each) and is then reused. 0 turns automatic
  // checkpoints off (tests: the WAL then grows without bound).
  int wal_autocheckpoint_pages = 4000;
  // Write each commit's WAL frames with one write instead of two per page (the "berth-wal"
  // VFS shim, wal_vfs.h). false: SQLite's own writes (bench comparisons).
  bool gather_wal_writes = true;
  // Tests only: called instead of fdatasync of the WAL; returns 0 or an errno.
  std::function<int()> sync_fault_for_test;
  // Tests only: called before the shim writes a commit's gathered frames; non-zero fails it.
  std::function<int()> wal_write_fault_for_test;
};

// Counters for tests and metrics; each is a total since open.
struct SqliteStats {
  int64_t batches = 0;         // SQLite transactions committed by the writer and made durable
  int64_t writes = 0;          // write requests applied (put, delete, txn, lease, compact)
  int64_t largest_batch = 0;   // most write requests in one committed transaction
  int64_t failed_batches = 0;  // commits that failed (every write of the batch failed)
  int64_t compact_steps = 0;   // committed compaction steps (SqliteOptions::compact_step_rows)
  int64_t syncs = 0;           // fdatasyncs of the WAL (one covers every batch committed before)
  int64_t commits = 0;         // SQLite transactions committed by the writer, durable or not yet
  int64_t applied = 0;         // write requests applied by the writer, committed or not yet
  int64_t compact_longest_step_us = 0;  // longest a step's statements held the writer (no commit)
  int64_t compact_step_us = 0;          // time in compaction steps' statements, all steps
  int64_t wal_writes = 0;   // SQLite's writes to the WAL gathered by the shim (gather_wal_writes)
  int64_t wal_flushes = 0;  // the writes the shim made of them
};

// The sqlite back-end's own surface beyond Store (reach it with dynamic_cast).
class SqliteStore : public Store {
 public:
  virtual SqliteStats stats() const = 0;
  virtual const std::string& path() const = 0;
};

// Opens (creating if missing) the store at `path`. Fails with a message naming the path when
// the file is not a Berth store, is corrupt, or is already open. `clock` must outlive it.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, SqliteOptions options,
                                               Clock& clock);

}  // namespace berth::store
