// "berth-wal": a SQLite VFS shim over the default (unix) VFS for the store's writer
// connection. SQLite writes each WAL frame of a commit with two pwrite calls (the 24-byte
// frame header, then the page); a commit of ~30 pages is ~60 system calls, each expensive on
// a virtual machine. The shim gathers the contiguous writes to the WAL into one buffer and
// writes them with one pwrite at the point where the commit would become visible: SQLite's
// shared-memory barrier between the two copies of the WAL-index header, so no reader can see
// the commit before its frames are in the file. Any other use of the WAL file (read, sync,
// truncate, size, lock, a write elsewhere) writes the buffer out first.
//
// xShmBarrier returns nothing, so a failed write there cannot fail the commit: it is kept in
// WalWriteState; the store checks it before it fsyncs and acknowledges a commit (and then
// refuses writes, as after a failed fsync), and every later call on that WAL fails.
// Decision 0001 ("Group commit") explains the choice.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <functional>
#include <memory>

namespace berth::store::sqlite {

inline constexpr char kWalVfsName[] = "berth-wal";

// Shared between the shim's files of one database and the store that opened it.
struct WalWriteState {
  std::atomic<int> failed_rc{0};    // SQLite code of the first failed write of gathered frames
  std::atomic<int64_t> flushes{0};  // buffers written (each one pwrite)
  std::atomic<int64_t> writes{0};   // SQLite's writes to the WAL that went through a buffer
  // Test hook: called before each buffer write; non-zero fails it (as an I/O error).
  std::function<int()> fault_for_test;
};

// Registers the shim (idempotent, thread-safe). False if SQLite refused.
bool RegisterWalVfs();

// The state of the database `db` (opened through kWalVfsName) for its main file; null for a
// connection opened through another VFS. Call on the thread that owns the connection.
std::shared_ptr<WalWriteState> WalStateOf(sqlite3* db);

}  // namespace berth::store::sqlite
