#include "store/sqlite/wal_vfs.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace berth::store::sqlite {
namespace {

// sqlite3_file_control(db, "main", kFcntlWalState, &std::shared_ptr<WalWriteState>) fills in
// the state (a private opcode; SQLite passes unknown ones to the VFS).
constexpr int kFcntlWalState = 0x62657274;
// A commit larger than this is written before it ends.
constexpr size_t kMaxGathered = 4u << 20;
// The unix VFS writes at most 128 KiB - 1 bytes per call (it masks larger sizes): gathered
// bytes go out in pieces of 124 KiB.
constexpr size_t kMaxWrite = 124u << 10;

struct ShimFile;

// The files of one database opened through the shim: its WAL (if open) and their state.
struct DbLink {
  std::shared_ptr<WalWriteState> state = std::make_shared<WalWriteState>();
  ShimFile* wal = nullptr;
};

struct Extra {
  sqlite3_file* real = nullptr;
  bool is_wal = false;
  std::string db_name;
  std::shared_ptr<DbLink> link;
  std::vector<char> gathered;  // WAL only: contiguous bytes not yet written
  sqlite3_int64 gathered_at = 0;
};

// SQLite allocates szOsFile bytes: this header, then the real VFS's file.
struct ShimFile {
  sqlite3_file base;
  Extra* extra;
};

constexpr size_t kHeaderSize = (sizeof(ShimFile) + 15) & ~size_t{15};

std::mutex& LinksMutex() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::weak_ptr<DbLink>>& Links() {
  static std::map<std::string, std::weak_ptr<DbLink>> links;
  return links;
}

sqlite3_vfs* g_real = nullptr;  // the VFS under the shim, set once by RegisterWalVfs
sqlite3_vfs* Real() { return g_real; }

Extra& X(sqlite3_file* f) { return *reinterpret_cast<ShimFile*>(f)->extra; }
sqlite3_file* R(sqlite3_file* f) { return X(f).real; }

// Writes the gathered bytes with one write. A failure is kept in the state: every later
// write fails, and the store sees it before it acknowledges anything.
int Flush(Extra& x) {
  if (x.gathered.empty()) return SQLITE_OK;
  WalWriteState& state = *x.link->state;
  int rc = SQLITE_OK;
  if (state.failed_rc.load() != 0) {
    rc = SQLITE_IOERR_WRITE;
  } else if (state.fault_for_test && state.fault_for_test() != 0) {
    rc = SQLITE_IOERR_WRITE;
  } else {
    for (size_t done = 0; done < x.gathered.size() && rc == SQLITE_OK; done += kMaxWrite) {
      const size_t n = std::min(kMaxWrite, x.gathered.size() - done);
      rc = x.real->pMethods->xWrite(x.real, x.gathered.data() + done, static_cast<int>(n),
                                    x.gathered_at + static_cast<sqlite3_int64>(done));
    }
  }
  x.gathered.clear();
  state.flushes.fetch_add(1, std::memory_order_relaxed);
  if (rc != SQLITE_OK) {
    int expected = 0;
    state.failed_rc.compare_exchange_strong(expected, rc);
  }
  return rc;
}

int FlushWal(sqlite3_file* f) {
  Extra& x = X(f);
  if (x.is_wal) return Flush(x);
  return SQLITE_OK;
}

// Flushes the WAL of the database whose main file is `f`.
void FlushLinkedWal(sqlite3_file* f) {
  Extra& x = X(f);
  if (!x.is_wal && x.link && x.link->wal != nullptr) (void)Flush(*x.link->wal->extra);
}

int Close(sqlite3_file* f) {
  Extra* x = &X(f);
  int rc = FlushWal(f);
  if (x->link) {
    if (x->is_wal) x->link->wal = nullptr;
    x->link.reset();
    // The last file of the database drops its entry.
    std::lock_guard lock(LinksMutex());
    auto it = Links().find(x->db_name);
    if (it != Links().end() && it->second.expired()) Links().erase(it);
  }
  int close_rc = x->real->pMethods != nullptr ? x->real->pMethods->xClose(x->real) : SQLITE_OK;
  delete x;
  reinterpret_cast<ShimFile*>(f)->extra = nullptr;
  return rc != SQLITE_OK ? rc : close_rc;
}

int Read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return R(f)->pMethods->xRead(R(f), buf, amount, offset);
}

int Write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  Extra& x = X(f);
  if (!x.is_wal) return x.real->pMethods->xWrite(x.real, buf, amount, offset);
  if (x.link->state->failed_rc.load() != 0) return SQLITE_IOERR_WRITE;
  if (!x.gathered.empty() &&
      offset != x.gathered_at + static_cast<sqlite3_int64>(x.gathered.size())) {
    if (int rc = Flush(x); rc != SQLITE_OK) return rc;
  }
  if (x.gathered.empty()) x.gathered_at = offset;
  const auto* bytes = static_cast<const char*>(buf);
  x.gathered.insert(x.gathered.end(), bytes, bytes + amount);
  x.link->state->writes.fetch_add(1, std::memory_order_relaxed);
  if (x.gathered.size() >= kMaxGathered) return Flush(x);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return R(f)->pMethods->xTruncate(R(f), size);
}

int Sync(sqlite3_file* f, int flags) {
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return R(f)->pMethods->xSync(R(f), flags);
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return R(f)->pMethods->xFileSize(R(f), size);
}

int Lock(sqlite3_file* f, int level) {
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return R(f)->pMethods->xLock(R(f), level);
}

int Unlock(sqlite3_file* f, int level) {
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return R(f)->pMethods->xUnlock(R(f), level);
}

int CheckReservedLock(sqlite3_file* f, int* out) {
  return R(f)->pMethods->xCheckReservedLock(R(f), out);
}

int FileControl(sqlite3_file* f, int op, void* arg) {
  Extra& x = X(f);
  if (op == kFcntlWalState) {
    if (!x.link) return SQLITE_NOTFOUND;
    *static_cast<std::shared_ptr<WalWriteState>*>(arg) = x.link->state;
    return SQLITE_OK;
  }
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return x.real->pMethods->xFileControl(x.real, op, arg);
}

int SectorSize(sqlite3_file* f) { return R(f)->pMethods->xSectorSize(R(f)); }

int DeviceCharacteristics(sqlite3_file* f) { return R(f)->pMethods->xDeviceCharacteristics(R(f)); }

// Shared memory belongs to the main file; the barrier between the two copies of the
// WAL-index header is where a commit becomes visible to readers: its frames go first.
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  FlushLinkedWal(f);
  return R(f)->pMethods->xShmMap(R(f), region, size, extend, out);
}

int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  FlushLinkedWal(f);
  return R(f)->pMethods->xShmLock(R(f), offset, n, flags);
}

void ShmBarrier(sqlite3_file* f) {
  FlushLinkedWal(f);
  R(f)->pMethods->xShmBarrier(R(f));
}

int ShmUnmap(sqlite3_file* f, int delete_flag) {
  FlushLinkedWal(f);
  return R(f)->pMethods->xShmUnmap(R(f), delete_flag);
}

int Fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return R(f)->pMethods->xFetch(R(f), offset, amount, out);
}

int Unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  return R(f)->pMethods->xUnfetch(R(f), offset, page);
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs* /*vfs*/, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  shim->base.pMethods = nullptr;
  auto* x = new (std::nothrow) Extra;
  if (x == nullptr) return SQLITE_NOMEM;
  x->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kHeaderSize);
  std::memset(x->real, 0, static_cast<size_t>(Real()->szOsFile));
  int rc = Real()->xOpen(Real(), name, x->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (x->real->pMethods != nullptr) x->real->pMethods->xClose(x->real);
    delete x;
    return rc;
  }
  if (name != nullptr && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0) {
    x->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    x->db_name = x->is_wal ? sqlite3_filename_database(name) : name;
    std::lock_guard lock(LinksMutex());
    std::shared_ptr<DbLink> link = Links()[x->db_name].lock();
    if (!link) {
      link = std::make_shared<DbLink>();
      Links()[x->db_name] = link;
    }
    x->link = std::move(link);
    if (x->is_wal) x->link->wal = shim;
  }
  shim->extra = x;
  shim->base.pMethods = &kMethods;
  return SQLITE_OK;
}

// Everything else is the real VFS's.
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return Real()->xDelete(Real(), name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return Real()->xAccess(Real(), name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return Real()->xFullPathname(Real(), name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return Real()->xDlOpen(Real(), name); }
void DlError(sqlite3_vfs*, int n, char* out) { Real()->xDlError(Real(), n, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return Real()->xDlSym(Real(), handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { Real()->xDlClose(Real(), handle); }
int Randomness(sqlite3_vfs*, int n, char* out) { return Real()->xRandomness(Real(), n, out); }
int Sleep(sqlite3_vfs*, int us) { return Real()->xSleep(Real(), us); }
int CurrentTime(sqlite3_vfs*, double* out) { return Real()->xCurrentTime(Real(), out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return Real()->xGetLastError != nullptr ? Real()->xGetLastError(Real(), n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return Real()->xCurrentTimeInt64(Real(), out);
}

}  // namespace

bool RegisterWalVfs() {
  static const bool registered = [] {
    sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
    if (real == nullptr || real->iVersion < 2) return false;
    g_real = real;
    static sqlite3_vfs vfs = {};
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(kHeaderSize) + real->szOsFile;
    vfs.mxPathname = real->mxPathname;
    vfs.zName = kWalVfsName;
    vfs.pAppData = real;
    vfs.xOpen = Open;
    vfs.xDelete = Delete;
    vfs.xAccess = Access;
    vfs.xFullPathname = FullPathname;
    vfs.xDlOpen = DlOpen;
    vfs.xDlError = DlError;
    vfs.xDlSym = DlSym;
    vfs.xDlClose = DlClose;
    vfs.xRandomness = Randomness;
    vfs.xSleep = Sleep;
    vfs.xCurrentTime = CurrentTime;
    vfs.xGetLastError = GetLastError;
    vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    return sqlite3_vfs_register(&vfs, /*makeDflt=*/0) == SQLITE_OK;
  }();
  return registered;
}

std::shared_ptr<WalWriteState> WalStateOf(sqlite3* db) {
  std::shared_ptr<WalWriteState> state;
  if (sqlite3_file_control(db, "main", kFcntlWalState, &state) != SQLITE_OK) return nullptr;
  return state;
}

}  // namespace berth::store::sqlite
