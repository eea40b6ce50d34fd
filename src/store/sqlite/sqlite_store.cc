#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>
#include <thread>

#include "core/log.h"
#include "core/wake_batch.h"
#include "store/async_txn.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/wal_vfs.h"
#include "store/sqlite/watch_hub.h"

namespace berth::store {
namespace sqlite {
namespace {

constexpr int64_t kSchemaVersion = 1;
constexpr int64_t kLatest = std::numeric_limits<int64_t>::max();
constexpr int64_t kReplayChunkRevisions = 512;
constexpr const char* kComponent = "store.sqlite";

// docs/decisions/0001-sqlite-mvcc-schema.md explains this schema.
constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
  key BLOB NOT NULL,
  mod_revision INTEGER NOT NULL,
  sub INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (key, mod_revision DESC)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_by_revision ON kv (mod_revision, sub);
CREATE INDEX IF NOT EXISTS kv_by_lease ON kv (lease, key) WHERE lease <> 0;
CREATE TABLE IF NOT EXISTS leases (
  id INTEGER PRIMARY KEY,
  ttl INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', 1), ('revision', 1),
  ('compact_revision', 0);
)sql";

constexpr char kLatestAt[] =
    "SELECT mod_revision, create_revision, version, lease, value FROM kv "
    "WHERE key = ?1 AND mod_revision <= ?2 ORDER BY mod_revision DESC LIMIT 1";
constexpr char kPrevBefore[] =
    "SELECT mod_revision, create_revision, version, lease, value FROM kv "
    "WHERE key = ?1 AND mod_revision < ?2 ORDER BY mod_revision DESC LIMIT 1";
constexpr char kRangeAt[] =
    "SELECT key, mod_revision, create_revision, version, lease, value FROM kv "
    "WHERE key >= ?1 AND key < ?2 AND mod_revision <= ?3 ORDER BY key, mod_revision DESC";
constexpr char kRangeFromAt[] =
    "SELECT key, mod_revision, create_revision, version, lease, value FROM kv "
    "WHERE key >= ?1 AND mod_revision <= ?2 ORDER BY key, mod_revision DESC";
constexpr char kHistory[] =
    "SELECT key, mod_revision, create_revision, version, lease, value FROM kv "
    "WHERE mod_revision >= ?1 AND mod_revision <= ?2 ORDER BY mod_revision, sub";
constexpr char kInsertKv[] =
    "INSERT INTO kv (key, mod_revision, sub, create_revision, version, lease, value) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr char kLeaseKeys[] =
    "SELECT k.key FROM kv k WHERE k.lease = ?1 AND k.lease <> 0 AND k.version > 0 AND "
    "k.mod_revision = (SELECT mod_revision FROM kv WHERE key = k.key "
    "ORDER BY mod_revision DESC LIMIT 1) ORDER BY k.key";
// The writer's transaction control, prepared once (statement cache) rather than parsed per
// write.
constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kSavepoint[] = "SAVEPOINT w";
constexpr char kRelease[] = "RELEASE w";
constexpr char kRollbackTo[] = "ROLLBACK TO w";
constexpr char kLeaseTtl[] = "SELECT ttl FROM leases WHERE id = ?1";
constexpr char kLeaseInsert[] = "INSERT INTO leases (id, ttl) VALUES (?1, ?2)";
constexpr char kLeaseDelete[] = "DELETE FROM leases WHERE id = ?1";
constexpr char kLeaseAll[] = "SELECT id, ttl FROM leases ORDER BY id";
constexpr char kGetMeta[] = "SELECT value FROM meta WHERE name = ?1";
constexpr char kSetMeta[] =
    "INSERT INTO meta (name, value) VALUES (?1, ?2) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value";
// Compaction at C keeps, for every key, its newest row at or below C (so reads at >= C are
// exact) and every row above C; a tombstone below C is the key's absence and goes too.
// It runs in steps from the previous compact revision P to C: after a compaction at P no row
// below P has a newer row at or below P and no tombstone is below P, so the rows a step
// deletes are the predecessors of the rows in (P, C] and the tombstones in [P, C). Both
// statements touch only those rows (never the whole table), and kCompactStep picks C so that
// (P, C] holds a bounded number of rows: the writer is held for a bounded time per step.
constexpr char kCompactStep[] =
    "SELECT mod_revision FROM kv INDEXED BY kv_by_revision WHERE mod_revision > ?1 "
    "ORDER BY mod_revision LIMIT 1 OFFSET ?2";
constexpr char kCompactSuperseded[] =
    "DELETE FROM kv WHERE (key, mod_revision) IN (SELECT n.key, (SELECT p.mod_revision FROM kv p "
    "WHERE p.key = n.key AND p.mod_revision < n.mod_revision ORDER BY p.mod_revision DESC "
    "LIMIT 1) FROM kv n INDEXED BY kv_by_revision WHERE n.mod_revision > ?1 AND "
    "n.mod_revision <= ?2)";
constexpr char kCompactTombstones[] =
    "DELETE FROM kv WHERE mod_revision >= ?1 AND mod_revision < ?2 AND version = 0";
constexpr char kForeignTables[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
    "name NOT IN ('meta', 'kv', 'leases') AND name NOT LIKE 'sqlite_%'";

#define BERTH_TRY(expr)                                          \
  do {                                                           \
    auto berth_try_ = (expr);                                    \
    if (!berth_try_) return std::unexpected(berth_try_.error()); \
  } while (0)

#define BERTH_TRY_ASSIGN(lhs, expr) BERTH_TRY_ASSIGN_I(BERTH_TRY_CAT(t_, __LINE__), lhs, expr)
#define BERTH_TRY_CAT_I(a, b) a##b
#define BERTH_TRY_CAT(a, b) BERTH_TRY_CAT_I(a, b)
#define BERTH_TRY_ASSIGN_I(tmp, lhs, expr)                  \
  auto tmp = (expr);                                        \
  if (!tmp) return std::unexpected(std::move(tmp.error())); \
  lhs = std::move(*tmp)

// Reads columns (mod_revision, create_revision, version, lease, value) starting at `first`.
KeyValue ReadKv(const Query& q, std::string key, int first, bool with_value) {
  KeyValue kv;
  kv.key = std::move(key);
  kv.mod_revision = q.Int(first);
  kv.create_revision = q.Int(first + 1);
  kv.version = q.Int(first + 2);
  kv.lease = q.Int(first + 3);
  if (with_value) kv.value = q.Blob(first + 4);
  return kv;
}

bool IsEverything(const std::string& end) { return end.size() == 1 && end[0] == '\0'; }

KeyRange MakeRange(std::string_view key, bool prefix, const std::string& range_end) {
  KeyRange r;
  r.key = std::string(key);
  if (!range_end.empty()) {
    r.end = range_end;
  } else if (prefix) {
    r.end = PrefixEnd(key);
  }
  return r;
}

Result<void> ValidateRange(const KeyRange& r) {
  if (r.end.empty()) return ValidateKey(r.key);
  if (r.key.size() > kMaxKeyBytes) return ValidateKey(r.key);
  return {};
}

// The newest version of `key` at or below `revision`; nullopt when absent (or deleted).
Result<std::optional<KeyValue>> LatestAt(Db& db, std::string_view key, int64_t revision) {
  BERTH_TRY_ASSIGN(Query q, db.Prepare(kLatestAt));
  q.BindBlob(1, key).Bind(2, revision);
  BERTH_TRY_ASSIGN(bool row, q.Step());
  if (!row || q.Int(2) == 0) return std::optional<KeyValue>();
  return std::optional<KeyValue>(ReadKv(q, std::string(key), 0, true));
}

struct RangeQuery {
  int64_t limit = 0;
  bool keys_only = false;
  bool count_only = false;
};

Result<RangeResult> RangeAt(Db& db, const KeyRange& range, int64_t revision, const RangeQuery& rq) {
  RangeResult out;
  auto take = [&](const Query& q, std::string_view key, int first) {
    ++out.count;
    if (rq.count_only) return;
    if (rq.limit > 0 && static_cast<int64_t>(out.kvs.size()) >= rq.limit) {
      out.more = true;
      return;
    }
    out.kvs.push_back(ReadKv(q, std::string(key), first, !rq.keys_only));
  };
  if (range.end.empty()) {
    BERTH_TRY_ASSIGN(Query q, db.Prepare(kLatestAt));
    q.BindBlob(1, range.key).Bind(2, revision);
    BERTH_TRY_ASSIGN(bool row, q.Step());
    if (row && q.Int(2) != 0) take(q, range.key, 0);
    return out;
  }
  const bool everything = IsEverything(range.end);
  if (!everything && range.end <= range.key) return out;
  BERTH_TRY_ASSIGN(Query q, db.Prepare(everything ? kRangeFromAt : kRangeAt));
  q.BindBlob(1, range.key);
  if (everything) {
    q.Bind(2, revision);
  } else {
    q.BindBlob(2, range.end).Bind(3, revision);
  }
  std::string last;
  bool first_row = true;
  for (;;) {
    BERTH_TRY_ASSIGN(bool row, q.Step());
    if (!row) break;
    std::string_view key = q.BlobView(0);
    if (!first_row && key == last) continue;  // an older version of the key just taken
    first_row = false;
    last.assign(key);
    if (q.Int(3) == 0) continue;  // deleted at this revision
    take(q, last, 1);
  }
  return out;
}

Result<std::optional<int64_t>> LeaseTtlIn(Db& db, int64_t id) {
  BERTH_TRY_ASSIGN(Query q, db.Prepare(kLeaseTtl));
  q.Bind(1, id);
  BERTH_TRY_ASSIGN(bool row, q.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(q.Int(0));
}

Result<std::vector<std::string>> LeaseKeysIn(Db& db, int64_t id) {
  BERTH_TRY_ASSIGN(Query q, db.Prepare(kLeaseKeys));
  q.Bind(1, id);
  std::vector<std::string> keys;
  for (;;) {
    BERTH_TRY_ASSIGN(bool row, q.Step());
    if (!row) break;
    keys.push_back(q.Blob(0));
  }
  return keys;
}

Result<int64_t> GetMeta(Db& db, const char* name) {
  BERTH_TRY_ASSIGN(Query q, db.Prepare(kGetMeta));
  q.BindText(1, name);
  BERTH_TRY_ASSIGN(bool row, q.Step());
  if (!row) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("sqlite store {}: meta `{}` missing", db.path(), name));
  }
  return q.Int(0);
}

Result<void> SetMeta(Db& db, const char* name, int64_t value) {
  BERTH_TRY_ASSIGN(Query q, db.Prepare(kSetMeta));
  q.BindText(1, name).Bind(2, value);
  return q.Run();
}

bool CompareNumbers(int64_t a, Compare::Op op, int64_t b) {
  switch (op) {
    case Compare::Op::kEqual:
      return a == b;
    case Compare::Op::kNotEqual:
      return a != b;
    case Compare::Op::kLess:
      return a < b;
    case Compare::Op::kGreater:
      return a > b;
  }
  return false;
}

bool CompareHolds(const Compare& c, const std::optional<KeyValue>& kv) {
  if (c.target == Compare::Target::kValue) {
    if (!kv) return false;
    // std::string compares chars as unsigned via char_traits<char>::compare (memcmp).
    int cmp = kv->value.compare(c.value);
    return CompareNumbers(cmp < 0 ? -1 : (cmp > 0 ? 1 : 0), c.op, 0);
  }
  int64_t actual = 0;
  if (kv) {
    switch (c.target) {
      case Compare::Target::kVersion:
        actual = kv->version;
        break;
      case Compare::Target::kCreateRevision:
        actual = kv->create_revision;
        break;
      case Compare::Target::kModRevision:
        actual = kv->mod_revision;
        break;
      case Compare::Target::kLease:
        actual = kv->lease;
        break;
      case Compare::Target::kValue:
        break;
    }
  }
  return CompareNumbers(actual, c.op, c.number);
}

// ------------------------------------------------------------------ reader pool

class ReaderPool {
 public:
  class Handle {
   public:
    Handle(ReaderPool* pool, std::unique_ptr<Db> db) : pool_(pool), db_(std::move(db)) {}
    Handle(Handle&&) = default;
    ~Handle() {
      if (db_) pool_->Release(std::move(db_));
    }
    Db& db() { return *db_; }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Db> db_;
  };

  ReaderPool(std::string path, size_t max) : path_(std::move(path)), max_(max == 0 ? 1 : max) {}

  Result<Handle> Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty() || open_ < max_; });
    if (!free_.empty()) {
      auto db = std::move(free_.back());
      free_.pop_back();
      return Handle(this, std::move(db));
    }
    ++open_;
    lock.unlock();
    auto db = OpenReader();
    if (!db) {
      std::lock_guard relock(mu_);
      --open_;
      cv_.notify_one();
      return std::unexpected(db.error());
    }
    return Handle(this, std::move(*db));
  }

 private:
  Result<std::unique_ptr<Db>> OpenReader() {
    BERTH_TRY_ASSIGN(auto db, Db::Open(path_, SQLITE_OPEN_READWRITE));
    BERTH_TRY(
        db->Exec("PRAGMA busy_timeout = 10000; PRAGMA query_only = 1; "
                 "PRAGMA mmap_size = 268435456;"));
    return db;
  }

  void Release(std::unique_ptr<Db> db) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(db));
    cv_.notify_one();
  }

  const std::string path_;
  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Db>> free_;  // guarded by mu_
  size_t open_ = 0;                        // guarded by mu_
};

// ------------------------------------------------------------------ writer batch

// The state of one group-commit batch, owned by the writer thread.
struct Batch {
  Db& db;
  int64_t revision;  // the last revision assigned (committed, or earlier in this batch)
  std::vector<std::pair<int64_t, std::vector<Event>>> events;  // per revision, to publish
  std::vector<std::function<void()>> after_commit;
  std::vector<std::function<void()>> on_abort;  // undo in-memory effects, run in reverse
};

// The changes of one write request: they all share the next revision.
class RevisionWriter {
 public:
  explicit RevisionWriter(Batch& b) : b_(b), revision_(b.revision + 1) {}

  int64_t revision() const { return revision_; }
  bool changed() const { return sub_ > 0; }

  Result<void> Put(std::string_view key, std::string_view value, int64_t lease,
                   const std::optional<KeyValue>& prev) {
    Event e;
    e.type = Event::Type::kPut;
    e.kv.key = std::string(key);
    e.kv.value = std::string(value);
    e.kv.create_revision = prev ? prev->create_revision : revision_;
    e.kv.mod_revision = revision_;
    e.kv.version = prev ? prev->version + 1 : 1;
    e.kv.lease = lease;
    e.prev_kv = prev;
    BERTH_TRY(Insert(e.kv));
    events_.push_back(std::move(e));
    return {};
  }

  Result<void> Delete(const KeyValue& prev) {
    Event e;
    e.type = Event::Type::kDelete;
    e.kv.key = prev.key;
    e.kv.mod_revision = revision_;
    e.prev_kv = prev;
    BERTH_TRY(Insert(e.kv));
    events_.push_back(std::move(e));
    return {};
  }

  // Makes the revision the batch's latest when anything changed.
  void Finish() {
    if (!changed()) return;
    b_.revision = revision_;
    b_.events.emplace_back(revision_, std::move(events_));
  }

 private:
  Result<void> Insert(const KeyValue& kv) {
    BERTH_TRY_ASSIGN(Query q, b_.db.Prepare(kInsertKv));
    q.BindBlob(1, kv.key)
        .Bind(2, kv.mod_revision)
        .Bind(3, sub_++)
        .Bind(4, kv.create_revision)
        .Bind(5, kv.version)
        .Bind(6, kv.lease)
        .BindBlob(7, kv.value);
    return q.Run();
  }

  Batch& b_;
  const int64_t revision_;
  int64_t sub_ = 0;
  std::vector<Event> events_;
};

// One caller's write, queued for the writer thread. A waiting caller owns it (on its stack)
// and Wait()s; an asynchronous one gives it to the writer, which runs `on_done` and frees it.
struct WriteRequest {
  std::function<Result<void>(Batch&)> apply;
  Result<void> status;
  std::function<void(Result<void>)> on_done;  // set: asynchronous, heap-allocated

  // Called by the writer once `status` is final. The caller may destroy the request as soon
  // as Wait() returns; notifying under the mutex keeps that safe.
  void Finish() {
    if (on_done) {
      auto done = std::move(on_done);
      auto status_copy = std::move(status);
      delete this;
      done(std::move(status_copy));
      return;
    }
    std::lock_guard lock(mu);
    finished = true;
    cv.notify_one();
  }
  void Wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished; });
  }

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;  // guarded by mu
};

// A batch the writer has committed (or failed to commit), waiting for the syncer: its WAL
// frames are written but not yet fsynced, so nothing of it is visible or acknowledged yet.
struct CommittedBatch {
  bool committed = false;  // false: the commit failed and every request holds its error
  int64_t revision = 0;    // the batch's last revision
  int64_t applied = 0;     // requests that succeeded
  std::vector<std::pair<int64_t, std::vector<Event>>> events;
  std::vector<std::function<void()>> after_commit;
  std::vector<WriteRequest*> requests;
  Result<void> synced;  // set by the syncer: whether the fsync covering it succeeded
};

// A reader-writer lock that prefers the writer: a steady stream of readers must not starve
// the group-commit writer (glibc's default rwlock prefers readers). Meets SharedMutex.
class WriterPreferringMutex {
 public:
  WriterPreferringMutex() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~WriterPreferringMutex() { pthread_rwlock_destroy(&lock_); }
  WriterPreferringMutex(const WriterPreferringMutex&) = delete;
  WriterPreferringMutex& operator=(const WriterPreferringMutex&) = delete;
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

// The live keys by key, in etcd's byte order (std::string compares as unsigned char).
using LiveView = std::map<std::string, KeyValue, std::less<>>;

struct LeaseState {
  int64_t ttl = 0;
  Clock::TimePoint deadline;
  bool revoking = false;  // the reaper queued its revocation; keepalives fail from now on
};

// ------------------------------------------------------------------ the store

class SqliteStoreImpl final : public SqliteStore, public AsyncTxnStore {
 public:
  SqliteStoreImpl(std::string path, SqliteOptions options, Clock& clock, int lock_fd,
                  std::unique_ptr<Db> writer_db, int wal_fd, int64_t revision,
                  int64_t compact_revision, std::map<int64_t, LeaseState> leases, LiveView view)
      : path_(std::move(path)),
        options_(options),
        clock_(clock),
        lock_fd_(lock_fd),
        writer_db_(std::move(writer_db)),
        readers_(path_, options.max_readers),
        committed_revision_(revision),
        compact_guard_(compact_revision),
        compact_revision_(compact_revision),
        revision_(revision),
        wal_fd_(wal_fd),
        leases_(std::move(leases)),
        view_(std::move(view)),
        rng_(std::random_device{}()) {
    wal_state_ = WalStateOf(writer_db_->raw());
    if (wal_state_) wal_state_->fault_for_test = options_.wal_write_fault_for_test;
    hub_ = std::make_unique<WatchHub>(
        [this](const KeyRange& range, int64_t from, int64_t to, bool prev_kv,
               int64_t* compact_revision, const std::function<bool(WatchResponse &&)>& emit) {
          return Replay(range, from, to, prev_kv, compact_revision, emit);
        },
        revision, options.watch_max_pending_events);
    publisher_ = std::thread([this] { PublisherLoop(); });
    syncer_ = std::thread([this] { SyncerLoop(); });
    writer_ = std::thread([this] { WriterLoop(); });
    reaper_ = std::thread([this] { ReaperLoop(); });
  }

  ~SqliteStoreImpl() override {
    {
      std::lock_guard lock(reaper_mu_);
      reaper_stop_ = true;
      reaper_cv_.notify_all();
    }
    reaper_.join();
    {
      std::lock_guard lock(queue_mu_);
      stop_ = true;
      queue_cv_.notify_all();
    }
    writer_.join();
    {
      std::lock_guard lock(sync_mu_);
      sync_stop_ = true;
    }
    sync_cv_.notify_all();
    syncer_.join();
    {
      std::lock_guard lock(publish_mu_);
      publish_stop_ = true;
    }
    publish_cv_.notify_all();
    publisher_.join();
    if (wal_fd_ >= 0) ::close(wal_fd_);
    hub_->Shutdown("store closed");
    hub_.reset();
    writer_db_.reset();
    ::close(lock_fd_);
  }

  // ---------------------------------------------------------------- reads

  Result<RangeResult> Get(std::string_view key, const RangeOptions& options) override {
    KeyRange range = MakeRange(key, options.prefix, options.range_end);
    BERTH_TRY(ValidateRange(range));
    if (options.limit < 0 || options.revision < 0) {
      return Fail(ErrorCode::kInvalidArgument, "range: negative limit or revision");
    }
    if (options_.cache_current && options.revision == 0) {
      return GetFromView(range, RangeQuery{options.limit, options.keys_only, options.count_only});
    }
    const int64_t current = committed_revision_.load();
    const int64_t at = options.revision == 0 ? current : options.revision;
    BERTH_TRY(CheckReadable(at, current));
    BERTH_TRY_ASSIGN(auto reader, readers_.Acquire());
    BERTH_TRY_ASSIGN(RangeResult out,
                     RangeAt(reader.db(), range, at,
                             RangeQuery{options.limit, options.keys_only, options.count_only}));
    // Compaction raises the guard before deleting rows: a read that may have seen the
    // deletion sees the raised guard here.
    BERTH_TRY(CheckReadable(at, current));
    out.revision = current;
    return out;
  }

  // ---------------------------------------------------------------- writes

  Result<PutResult> Put(std::string_view key, std::string_view value,
                        const PutOptions& options) override {
    BERTH_TRY(ValidateKey(key));
    BERTH_TRY(ValidateValue(value));
    if (options.ignore_lease && options.lease != 0) {
      return Fail(ErrorCode::kInvalidArgument, "put: lease given with ignore_lease");
    }
    PutResult out;
    BERTH_TRY(Submit([&](Batch& b) -> Result<void> {
      RevisionWriter w(b);
      BERTH_TRY_ASSIGN(auto prev, LatestAt(b.db, key, kLatest));
      int64_t lease = options.lease;
      if (options.ignore_lease) {
        if (!prev) {
          return Fail(ErrorCode::kNotFound,
                      fmt::format("put {}: ignore_lease on a missing key", Printable(key)));
        }
        lease = prev->lease;
      }
      BERTH_TRY(CheckLeaseIn(b.db, lease));
      BERTH_TRY(w.Put(key, value, lease, prev));
      w.Finish();
      out.revision = b.revision;
      if (options.prev_kv) out.prev_kv = std::move(prev);
      return {};
    }));
    return out;
  }

  Result<DeleteResult> Delete(std::string_view key, const DeleteOptions& options) override {
    KeyRange range = MakeRange(key, options.prefix, options.range_end);
    BERTH_TRY(ValidateRange(range));
    DeleteResult out;
    BERTH_TRY(Submit([&](Batch& b) -> Result<void> {
      RevisionWriter w(b);
      BERTH_TRY_ASSIGN(out, DeleteIn(b, w, range, options.prev_kv));
      w.Finish();
      out.revision = b.revision;
      return {};
    }));
    return out;
  }

  Result<TxnResult> Txn(const TxnRequest& request) override {
    BERTH_TRY(ValidateTxnRequest(request));
    if (options_.cache_current && IsReadOnly(request)) return ReadOnlyTxnFromView(request);
    TxnResult out;
    BERTH_TRY(Submit([&](Batch& b) { return ApplyTxn(b, request, out); }));
    return out;
  }

  void TxnAsync(TxnRequest request, std::function<void(Result<TxnResult>)> done) override {
    if (auto v = ValidateTxnRequest(request); !v) return done(std::unexpected(v.error()));
    if (options_.cache_current && IsReadOnly(request)) return done(ReadOnlyTxnFromView(request));
    struct State {
      TxnRequest request;
      TxnResult out;
      std::function<void(Result<TxnResult>)> done;
    };
    auto state = std::make_shared<State>(State{std::move(request), {}, std::move(done)});
    SubmitAsync([this, state](Batch& b) { return ApplyTxn(b, state->request, state->out); },
                [state](Result<void> status) {
                  if (!status) return state->done(std::unexpected(std::move(status.error())));
                  state->done(std::move(state->out));
                });
  }

  Result<void> ValidateTxnRequest(const TxnRequest& request) {
    BERTH_TRY(ValidateTxn(request.success));
    BERTH_TRY(ValidateTxn(request.failure));
    for (const Compare& c : request.compare) BERTH_TRY(ValidateKey(c.key));
    return {};
  }

  // The body of a Txn, on the writer thread inside a batch.
  Result<void> ApplyTxn(Batch& b, const TxnRequest& request, TxnResult& out) {
    out = TxnResult();
    bool succeeded = true;
    for (const Compare& c : request.compare) {
      BERTH_TRY_ASSIGN(auto kv, LatestAt(b.db, c.key, kLatest));
      if (!CompareHolds(c, kv)) {
        succeeded = false;
        break;
      }
    }
    out.succeeded = succeeded;
    const auto& ops = succeeded ? request.success : request.failure;
    RevisionWriter w(b);
    for (const TxnOp& op : ops) {
      TxnOpResult r;
      r.type = op.type;
      switch (op.type) {
        case TxnOp::Type::kRange: {
          KeyRange range = MakeRange(op.key, op.prefix, op.range.range_end);
          int64_t at = op.range.revision == 0 ? kLatest : op.range.revision;
          if (op.range.revision != 0) BERTH_TRY(CheckReadable(at, b.revision));
          BERTH_TRY_ASSIGN(r.range, RangeAt(b.db, range, at,
                                            RangeQuery{op.range.limit, op.range.keys_only,
                                                       op.range.count_only}));
          break;
        }
        case TxnOp::Type::kPut: {
          BERTH_TRY_ASSIGN(auto prev, LatestAt(b.db, op.key, kLatest));
          BERTH_TRY(CheckLeaseIn(b.db, op.lease));
          BERTH_TRY(w.Put(op.key, op.value, op.lease, prev));
          if (op.prev_kv) r.put.prev_kv = std::move(prev);
          break;
        }
        case TxnOp::Type::kDelete: {
          KeyRange range = MakeRange(op.key, op.prefix, op.range.range_end);
          BERTH_TRY_ASSIGN(r.del, DeleteIn(b, w, range, op.prev_kv));
          break;
        }
      }
      out.results.push_back(std::move(r));
    }
    w.Finish();
    out.revision = b.revision;
    for (auto& r : out.results) {
      r.range.revision = b.revision;
      r.put.revision = b.revision;
      r.del.revision = b.revision;
    }
    return {};
  }

  // ---------------------------------------------------------------- watch

  Result<std::unique_ptr<Watcher>> Watch(std::string_view key, const WatchOptions& options,
                                         WatchCallback callback) override {
    KeyRange range = MakeRange(key, options.prefix, options.range_end);
    BERTH_TRY(ValidateRange(range));
    if (options.start_revision < 0) {
      return Fail(ErrorCode::kInvalidArgument, "watch: negative start revision");
    }
    if (!callback) return Fail(ErrorCode::kInvalidArgument, "watch: no callback");
    return hub_->Add(std::move(range), options.start_revision, options.prev_kv,
                     compact_guard_.load(), std::move(callback));
  }

  // ---------------------------------------------------------------- leases

  Result<int64_t> GrantLease(int64_t ttl_seconds, int64_t id) override {
    if (ttl_seconds < 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("grant lease: ttl {}s is below 1s", ttl_seconds));
    }
    if (id < 0) return Fail(ErrorCode::kInvalidArgument, "grant lease: negative id");
    int64_t granted = 0;
    BERTH_TRY(Submit([&](Batch& b) -> Result<void> {
      int64_t chosen = id;
      if (chosen == 0) {
        for (;;) {
          chosen = static_cast<int64_t>(rng_() >> 1);
          if (chosen == 0) continue;
          BERTH_TRY_ASSIGN(auto existing, LeaseTtlIn(b.db, chosen));
          if (!existing) break;
        }
      } else {
        BERTH_TRY_ASSIGN(auto existing, LeaseTtlIn(b.db, chosen));
        if (existing) {
          return Fail(ErrorCode::kAlreadyExists,
                      fmt::format("grant lease: lease {} already exists", chosen));
        }
      }
      BERTH_TRY_ASSIGN(Query q, b.db.Prepare(kLeaseInsert));
      q.Bind(1, chosen).Bind(2, ttl_seconds);
      BERTH_TRY(q.Run());
      b.after_commit.push_back([this, chosen, ttl_seconds] {
        std::lock_guard lock(lease_mu_);
        leases_[chosen] = LeaseState{ttl_seconds, clock_.Now() + std::chrono::seconds(ttl_seconds)};
      });
      granted = chosen;
      return {};
    }));
    return granted;
  }

  Result<int64_t> KeepAlive(int64_t lease_id) override {
    std::lock_guard lock(lease_mu_);
    auto it = leases_.find(lease_id);
    const auto now = clock_.Now();
    if (it == leases_.end() || it->second.revoking || it->second.deadline <= now) {
      return Fail(ErrorCode::kNotFound, fmt::format("keepalive: lease {} not found", lease_id));
    }
    it->second.deadline = now + std::chrono::seconds(it->second.ttl);
    return it->second.ttl;
  }

  Result<void> RevokeLease(int64_t lease_id) override {
    return Submit([&](Batch& b) { return RevokeIn(b, lease_id, /*by_reaper=*/false); });
  }

  Result<LeaseInfo> LeaseTimeToLive(int64_t lease_id, bool with_keys) override {
    LeaseInfo info;
    info.id = lease_id;
    {
      std::lock_guard lock(lease_mu_);
      auto it = leases_.find(lease_id);
      if (it == leases_.end()) {
        info.ttl = -1;
        return info;
      }
      info.granted_ttl = it->second.ttl;
      auto left = it->second.deadline - clock_.Now();
      info.ttl = left <= Clock::Duration::zero()
                     ? -1
                     : std::chrono::duration_cast<std::chrono::seconds>(left).count();
    }
    if (with_keys) {
      BERTH_TRY_ASSIGN(auto reader, readers_.Acquire());
      BERTH_TRY_ASSIGN(info.keys, LeaseKeysIn(reader.db(), lease_id));
    }
    return info;
  }

  Result<std::vector<int64_t>> Leases() override {
    std::lock_guard lock(lease_mu_);
    std::vector<int64_t> ids;
    for (const auto& [id, state] : leases_) ids.push_back(id);
    return ids;
  }

  // ---------------------------------------------------------------- compaction, status

  // In steps of at most `compact_step_rows` rows of history each, one write request each, so
  // writes queued meanwhile are applied between steps (see kCompactSuperseded).
  Result<void> Compact(int64_t revision) override {
    bool first = true;
    bool done = false;
    while (!done) {
      const auto submitted = std::chrono::steady_clock::now();
      BERTH_TRY(Submit([&](Batch& b) -> Result<void> {
        if (revision > b.revision) {
          return Fail(ErrorCode::kInvalidArgument,
                      fmt::format("compact: revision {} is in the future (current {})", revision,
                                  b.revision));
        }
        const int64_t previous = compact_guard_.load();
        if (revision <= previous) {
          if (!first) {  // another compaction went past ours between two steps
            done = true;
            return {};
          }
          return Fail(ErrorCode::kCompacted,
                      fmt::format("compact: revision {} is already compacted (compacted at {})",
                                  revision, previous));
        }
        first = false;
        const auto started = std::chrono::steady_clock::now();
        int64_t step = revision;
        if (options_.compact_step_rows > 0) {
          BERTH_TRY_ASSIGN(Query q, b.db.Prepare(kCompactStep));
          q.Bind(1, previous).Bind(2, static_cast<int64_t>(options_.compact_step_rows) - 1);
          BERTH_TRY_ASSIGN(bool more, q.Step());
          if (more) step = std::min(step, q.Int(0));
        }
        compact_guard_.store(step);
        b.on_abort.push_back([this, previous] { compact_guard_.store(previous); });
        BERTH_TRY(SetMeta(b.db, "compact_revision", step));
        for (const char* sql : {kCompactSuperseded, kCompactTombstones}) {
          BERTH_TRY_ASSIGN(Query q, b.db.Prepare(sql));
          q.Bind(1, previous).Bind(2, step);
          BERTH_TRY(q.Run());
        }
        const int64_t took_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - started)
                                    .count();
        b.after_commit.push_back([this, step, took_us] {
          compact_revision_.store(step);
          compact_steps_.fetch_add(1);
          if (took_us > compact_longest_step_us_.load()) compact_longest_step_us_.store(took_us);
          compact_step_us_.fetch_add(took_us);
        });
        done = step == revision;
        return {};
      }));
      // Leave the writer to other writes for as long as the step took (at most 50 ms), so a
      // write queued during a compaction finds a batch without a step in it.
      if (!done) {
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            std::chrono::steady_clock::now() - submitted, std::chrono::milliseconds(50)));
      }
    }
    return {};
  }

  Result<int64_t> CurrentRevision() override { return committed_revision_.load(); }
  Result<int64_t> CompactRevision() override { return compact_revision_.load(); }
  std::string_view backend() const override { return "sqlite"; }

  SqliteStats stats() const override {
    SqliteStats s;
    s.batches = batches_.load();
    s.writes = writes_.load();
    s.largest_batch = largest_batch_.load();
    s.failed_batches = failed_batches_.load();
    s.compact_steps = compact_steps_.load();
    s.syncs = syncs_.load();
    s.commits = commits_.load();
    s.applied = applied_.load();
    s.compact_longest_step_us = compact_longest_step_us_.load();
    s.compact_step_us = compact_step_us_.load();
    if (wal_state_) {
      s.wal_writes = wal_state_->writes.load();
      s.wal_flushes = wal_state_->flushes.load();
    }
    return s;
  }
  const std::string& path() const override { return path_; }

 private:
  Result<RangeResult> GetFromView(const KeyRange& range, const RangeQuery& rq) {
    std::shared_lock lock(view_mu_);
    return RangeInView(range, rq);
  }

  // Requires view_mu_ held (shared is enough).
  RangeResult RangeInView(const KeyRange& range, const RangeQuery& rq) const {
    RangeResult out;
    auto take = [&](const KeyValue& kv) {
      ++out.count;
      if (rq.count_only) return;
      if (rq.limit > 0 && static_cast<int64_t>(out.kvs.size()) >= rq.limit) {
        out.more = true;
        return;
      }
      if (rq.keys_only) {
        KeyValue copy;
        copy.key = kv.key;
        copy.create_revision = kv.create_revision;
        copy.mod_revision = kv.mod_revision;
        copy.version = kv.version;
        copy.lease = kv.lease;
        out.kvs.push_back(std::move(copy));
      } else {
        out.kvs.push_back(kv);
      }
    };
    out.revision = committed_revision_.load();
    if (range.end.empty()) {
      auto it = view_.find(range.key);
      if (it != view_.end()) take(it->second);
      return out;
    }
    const bool everything = IsEverything(range.end);
    if (!everything && range.end <= range.key) return out;
    auto end = everything ? view_.end() : view_.lower_bound(range.end);
    for (auto it = view_.lower_bound(range.key); it != end; ++it) take(it->second);
    return out;
  }

  static bool IsReadOnly(const TxnRequest& request) {
    for (const auto* ops : {&request.success, &request.failure}) {
      for (const TxnOp& op : *ops) {
        if (op.type != TxnOp::Type::kRange || op.range.revision != 0) return false;
      }
    }
    return true;
  }

  // A txn that only reads the latest state: compares and ranges evaluated on one snapshot of
  // the live view, without queueing behind (and waiting for the fsync of) other writes.
  TxnResult ReadOnlyTxnFromView(const TxnRequest& request) {
    std::shared_lock lock(view_mu_);
    TxnResult out;
    out.revision = committed_revision_.load();
    out.succeeded = true;
    for (const Compare& c : request.compare) {
      auto it = view_.find(c.key);
      std::optional<KeyValue> kv;
      if (it != view_.end()) kv = it->second;
      if (!CompareHolds(c, kv)) {
        out.succeeded = false;
        break;
      }
    }
    for (const TxnOp& op : out.succeeded ? request.success : request.failure) {
      TxnOpResult r;
      r.type = op.type;
      r.range = RangeInView(MakeRange(op.key, op.prefix, op.range.range_end),
                            RangeQuery{op.range.limit, op.range.keys_only, op.range.count_only});
      out.results.push_back(std::move(r));
    }
    return out;
  }

  // Requires view_mu_ held exclusively.
  void ApplyToView(const std::vector<Event>& events) {
    for (const Event& e : events) {
      if (e.type == Event::Type::kPut) {
        view_.insert_or_assign(e.kv.key, e.kv);
      } else {
        view_.erase(e.kv.key);
      }
    }
  }

  static std::string Printable(std::string_view key) {
    std::string out;
    for (unsigned char c : key.substr(0, 128)) {
      if (c >= 0x20 && c < 0x7f) {
        out.push_back(static_cast<char>(c));
      } else {
        out += fmt::format("\\x{:02x}", c);
      }
    }
    return out;
  }

  static Result<void> ValidateValue(std::string_view value) {
    if (value.size() > kMaxValueBytes) {
      return Fail(
          ErrorCode::kPayloadTooLarge,
          fmt::format("value of {} bytes exceeds the limit of {}", value.size(), kMaxValueBytes));
    }
    return {};
  }

  // etcd's rules: every key valid, no key put twice, no put inside a deleted range.
  static Result<void> ValidateTxn(const std::vector<TxnOp>& ops) {
    std::set<std::string_view> puts;
    std::vector<KeyRange> deletes;
    for (const TxnOp& op : ops) {
      if (op.type == TxnOp::Type::kPut) {
        BERTH_TRY(ValidateKey(op.key));
        BERTH_TRY(ValidateValue(op.value));
        if (!puts.insert(op.key).second) {
          return Fail(ErrorCode::kInvalidArgument,
                      fmt::format("txn: key {} is put twice", Printable(op.key)));
        }
      } else {
        KeyRange range = MakeRange(op.key, op.prefix, op.range.range_end);
        BERTH_TRY(ValidateRange(range));
        if (op.type == TxnOp::Type::kDelete) deletes.push_back(std::move(range));
      }
    }
    for (const KeyRange& d : deletes) {
      for (std::string_view p : puts) {
        if (d.Contains(p)) {
          return Fail(ErrorCode::kInvalidArgument,
                      fmt::format("txn: key {} is both put and deleted", Printable(p)));
        }
      }
    }
    return {};
  }

  // A read at `at` is possible when at <= current and at >= the compact revision.
  Result<void> CheckReadable(int64_t at, int64_t current) const {
    if (at > current && at != kLatest) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("revision {} is in the future (current {})", at, current));
    }
    const int64_t compacted = compact_guard_.load();
    if (at < compacted) {
      return Fail(ErrorCode::kCompacted,
                  fmt::format("revision {} is compacted (compact revision {})", at, compacted));
    }
    return {};
  }

  static Result<void> CheckLeaseIn(Db& db, int64_t lease) {
    if (lease == 0) return {};
    BERTH_TRY_ASSIGN(auto ttl, LeaseTtlIn(db, lease));
    if (!ttl) return Fail(ErrorCode::kNotFound, fmt::format("lease {} not found", lease));
    return {};
  }

  static Result<DeleteResult> DeleteIn(Batch& b, RevisionWriter& w, const KeyRange& range,
                                       bool prev_kv) {
    DeleteResult out;
    BERTH_TRY_ASSIGN(RangeResult live, RangeAt(b.db, range, kLatest, RangeQuery{}));
    for (const KeyValue& kv : live.kvs) BERTH_TRY(w.Delete(kv));
    out.deleted = static_cast<int64_t>(live.kvs.size());
    if (prev_kv) out.prev_kvs = std::move(live.kvs);
    return out;
  }

  Result<void> RevokeIn(Batch& b, int64_t id, bool by_reaper) {
    BERTH_TRY_ASSIGN(auto ttl, LeaseTtlIn(b.db, id));
    if (!ttl) return Fail(ErrorCode::kNotFound, fmt::format("revoke: lease {} not found", id));
    BERTH_TRY_ASSIGN(auto keys, LeaseKeysIn(b.db, id));
    RevisionWriter w(b);
    for (const std::string& key : keys) {
      BERTH_TRY_ASSIGN(auto prev, LatestAt(b.db, key, kLatest));
      if (prev) BERTH_TRY(w.Delete(*prev));
    }
    BERTH_TRY_ASSIGN(Query q, b.db.Prepare(kLeaseDelete));
    q.Bind(1, id);
    BERTH_TRY(q.Run());
    w.Finish();
    b.after_commit.push_back([this, id] {
      std::lock_guard lock(lease_mu_);
      leases_.erase(id);
    });
    if (by_reaper) {
      b.on_abort.push_back([this, id] {
        std::lock_guard lock(lease_mu_);
        auto it = leases_.find(id);
        if (it != leases_.end()) it->second.revoking = false;
      });
    }
    return {};
  }

  // Runs `apply` on the writer thread inside the next group commit; returns once the batch
  // holding it is durable (or failed).
  Result<void> Submit(std::function<Result<void>(Batch&)> apply) {
    WriteRequest request;
    request.apply = std::move(apply);
    {
      std::lock_guard lock(queue_mu_);
      if (stop_) return Fail(ErrorCode::kUnavailable, "sqlite store: closed");
      queue_.push_back(&request);
    }
    queue_cv_.notify_one();
    request.Wait();
    return std::move(request.status);
  }

  // Like Submit, without waiting: `done` runs on the publisher thread once the batch holding the
  // write is durable (or failed); on the caller's thread when the store is closed.
  void SubmitAsync(std::function<Result<void>(Batch&)> apply,
                   std::function<void(Result<void>)> done) {
    auto* request = new WriteRequest;
    request->apply = std::move(apply);
    request->on_done = std::move(done);
    {
      std::lock_guard lock(queue_mu_);
      if (!stop_) {
        queue_.push_back(request);
        request = nullptr;
      }
    }
    if (request != nullptr) {
      auto d = std::move(request->on_done);
      delete request;
      d(Fail(ErrorCode::kUnavailable, "sqlite store: closed"));
      return;
    }
    queue_cv_.notify_one();
  }

  // The writer: applies queued writes into an open SQLite transaction and commits it when
  // the syncer is idle, so each fsync covers everything that arrived while the previous one
  // ran (as many writes per commit as before the pipelining), while applying those writes
  // overlaps that fsync. A full batch (`max_batch`) or closing commits at once.
  void WriterLoop() {
    std::optional<Batch> open;           // the open transaction, if any
    std::vector<WriteRequest*> pending;  // its requests, applied or failed, in order
    int64_t applied = 0;
    std::vector<WriteRequest*> take;
    for (;;) {
      bool commit = false;
      bool stopping = false;
      {
        std::unique_lock lock(queue_mu_);
        queue_cv_.wait(
            lock, [&] { return stop_ || !queue_.empty() || (open.has_value() && unsynced_ == 0); });
        while (!queue_.empty() && pending.size() + take.size() < options_.max_batch) {
          take.push_back(queue_.front());
          queue_.pop_front();
        }
        stopping = stop_ && queue_.empty();
        if (take.empty() && !open && stopping) return;  // everything queued was committed
      }
      if (!take.empty()) {
        if (!open) {
          Batch b{*writer_db_, revision_, {}, {}, {}};
          Result<void> begin = Broken();
          if (begin) begin = writer_db_->Run(kBegin);
          if (!begin) {
            for (WriteRequest* r : take) r->status = std::unexpected(begin.error());
            Hand(CommittedBatch{.requests = std::move(take)});
            take.clear();
            continue;
          }
          open.emplace(std::move(b));
        }
        applied += ApplyRequests(*open, take);
        pending.insert(pending.end(), take.begin(), take.end());
        take.clear();
      }
      {
        std::lock_guard lock(queue_mu_);
        commit =
            open.has_value() && (unsynced_ == 0 || pending.size() >= options_.max_batch || stop_);
      }
      if (commit) {
        Commit(*open, std::move(pending), applied);
        open.reset();
        pending.clear();
        applied = 0;
      }
    }
  }

  // Applies each request in its own savepoint of the open transaction; returns how many
  // succeeded. A failed one is rolled back alone, with its in-memory effects.
  int64_t ApplyRequests(Batch& b, const std::vector<WriteRequest*>& requests) {
    Db& db = b.db;
    int64_t applied = 0;
    for (WriteRequest* r : requests) {
      const int64_t revision_mark = b.revision;
      const size_t events_mark = b.events.size();
      const size_t after_mark = b.after_commit.size();
      const size_t abort_mark = b.on_abort.size();
      auto savepoint = db.Run(kSavepoint);
      if (!savepoint) {
        r->status = std::unexpected(savepoint.error());
        continue;
      }
      r->status = r->apply(b);
      if (r->status) {
        (void)db.Run(kRelease);
        ++applied;
        applied_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      (void)db.Run(kRollbackTo);
      (void)db.Run(kRelease);
      for (size_t i = b.on_abort.size(); i > abort_mark; --i) b.on_abort[i - 1]();
      b.revision = revision_mark;
      b.events.resize(events_mark);
      b.after_commit.resize(after_mark);
      b.on_abort.resize(abort_mark);
    }
    return applied;
  }

  // Commits the open transaction (WAL frames written, not fsynced) and hands it to the
  // syncer; on failure every request of it fails.
  void Commit(Batch& b, std::vector<WriteRequest*> requests, int64_t applied) {
    Db& db = b.db;
    Result<void> commit;
    if (b.revision != revision_) commit = SetMeta(db, "revision", b.revision);
    if (commit) commit = db.Run(kCommit);
    CommittedBatch done;
    if (!commit) {
      (void)db.Exec("ROLLBACK");
      log::Error(kComponent, "commit of {} writes to {} failed: {}", requests.size(), path_,
                 commit.error().message);
      for (auto it = b.on_abort.rbegin(); it != b.on_abort.rend(); ++it) (*it)();
      for (WriteRequest* r : requests) {
        if (r->status) r->status = std::unexpected(commit.error());
      }
      failed_batches_.fetch_add(1);
    } else {
      revision_ = b.revision;
      commits_.fetch_add(1);
      done.committed = true;
      done.revision = b.revision;
      done.applied = applied;
      done.events = std::move(b.events);
      done.after_commit = std::move(b.after_commit);
    }
    done.requests = std::move(requests);
    Hand(std::move(done));
  }

  void Hand(CommittedBatch done) {
    const bool committed = done.committed;
    {
      std::lock_guard lock(sync_mu_);
      sync_queue_.push_back(std::move(done));
    }
    if (committed) {
      std::lock_guard lock(queue_mu_);
      ++unsynced_;
    }
    sync_cv_.notify_one();
  }

  // The syncer: fsyncs the WAL once for every batch committed since its last pass (the
  // writer meanwhile applies and commits the next batch), then, in commit order, makes each
  // batch visible (live view, revision, watch events) and answers its requests. A write is
  // thus acknowledged, seen by readers and published only once it is durable.
  void SyncerLoop() {
    std::vector<CommittedBatch> work;
    for (;;) {
      {
        std::unique_lock lock(sync_mu_);
        sync_cv_.wait(lock, [&] { return sync_stop_ || !sync_queue_.empty(); });
        if (sync_queue_.empty()) return;  // stopping, everything committed was answered
        std::swap(work, sync_queue_);
      }
      Result<void> synced;
      const int64_t committed = std::count_if(work.begin(), work.end(),
                                              [](const CommittedBatch& c) { return c.committed; });
      if (committed > 0) synced = SyncWal();
      bool idle = false;
      {
        std::lock_guard lock(queue_mu_);
        unsynced_ -= committed;
        idle = unsynced_ == 0;
      }
      // The writer may hold an open transaction until nothing awaits the disk: let it commit
      // while the batches just synced are published and answered.
      if (idle) queue_cv_.notify_one();
      // Publishing (live view, watch events, answering callers) runs on its own thread, so
      // the next fsync need not wait for it.
      {
        std::lock_guard lock(publish_mu_);
        for (CommittedBatch& c : work) {
          c.synced = synced;
          publish_queue_.push_back(std::move(c));
        }
      }
      publish_cv_.notify_one();
      work.clear();
    }
  }

  // The publisher: in commit order, makes each synced batch visible and answers its
  // requests (or fails them, if the fsync that covered it failed).
  void PublisherLoop() {
    std::vector<CommittedBatch> work;
    for (;;) {
      {
        std::unique_lock lock(publish_mu_);
        publish_cv_.wait(lock, [&] { return publish_stop_ || !publish_queue_.empty(); });
        if (publish_queue_.empty()) return;  // stopping, everything synced was answered
        std::swap(work, publish_queue_);
      }
      {
        // Callers' answers (the HTTP server's posts to its workers) wake their threads once,
        // after the last batch here, not once per answer.
        WakeBatch wakes;
        for (CommittedBatch& c : work) Publish(c);
      }
      work.clear();
    }
  }

  // Makes the write-ahead log durable: everything committed before the call.
  Result<void> SyncWal() {
    if (!options_.durable) return {};
    if (auto broken = Broken(); !broken) return broken;
    int rc = 0;
    if (wal_state_ && wal_state_->failed_rc.load() != 0) {
      rc = EIO;  // the shim could not write a commit's frames (wal_vfs.h)
    } else if (options_.sync_fault_for_test) {
      rc = options_.sync_fault_for_test();
    } else if (::fdatasync(wal_fd_) != 0) {
      rc = errno;
    }
    syncs_.fetch_add(1);
    if (rc == 0) return {};
    // What was written may or may not be on disk, and a retried fsync may report success
    // without writing it: stop taking writes (PostgreSQL panics here for the same reason).
    auto message = fmt::format(
        "fsync of {}-wal failed ({}): the store takes no more writes until berthd is "
        "restarted",
        path_, std::strerror(rc));
    log::Error(kComponent, "{}", message);
    {
      std::lock_guard lock(broken_mu_);
      if (broken_.empty()) broken_ = message;
    }
    return Fail(ErrorCode::kUnavailable, std::move(message));
  }

  Result<void> Broken() {
    std::lock_guard lock(broken_mu_);
    if (broken_.empty()) return {};
    return Fail(ErrorCode::kUnavailable, broken_);
  }

  void Publish(CommittedBatch& c) {
    const Result<void>& synced = c.synced;
    if (c.committed && !synced) {
      for (WriteRequest* r : c.requests) {
        if (r->status) r->status = std::unexpected(synced.error());
      }
      failed_batches_.fetch_add(1);
    } else if (c.committed) {
      if (options_.cache_current) {
        std::unique_lock lock(view_mu_);
        for (auto& [revision, events] : c.events) ApplyToView(events);
        committed_revision_.store(c.revision);
      } else {
        committed_revision_.store(c.revision);
      }
      for (auto& f : c.after_commit) f();
      hub_->PublishAll(c.events);
      batches_.fetch_add(1);
      writes_.fetch_add(c.applied);
      if (c.applied > largest_batch_.load()) largest_batch_.store(c.applied);
    }
    for (WriteRequest* r : c.requests) r->Finish();
  }

  void ReaperLoop() {
    std::unique_lock lock(reaper_mu_);
    while (!reaper_stop_) {
      reaper_cv_.wait_for(lock, options_.lease_check_interval, [&] { return reaper_stop_; });
      if (reaper_stop_) break;
      lock.unlock();
      std::vector<int64_t> expired;
      {
        std::lock_guard leases_lock(lease_mu_);
        const auto now = clock_.Now();
        for (auto& [id, state] : leases_) {
          if (!state.revoking && state.deadline <= now) {
            state.revoking = true;
            expired.push_back(id);
          }
        }
      }
      for (int64_t id : expired) {
        auto revoked = Submit([&](Batch& b) { return RevokeIn(b, id, /*by_reaper=*/true); });
        if (!revoked && revoked.error().code != ErrorCode::kNotFound) {
          log::Warn(kComponent, "revoking expired lease {} failed: {}", id,
                    revoked.error().message);
        } else if (!revoked) {
          std::lock_guard leases_lock(lease_mu_);
          leases_.erase(id);  // revoked meanwhile by a caller
        }
      }
      lock.lock();
    }
  }

  Result<void> Replay(const KeyRange& range, int64_t from, int64_t to, bool prev_kv,
                      int64_t* compact_revision, const std::function<bool(WatchResponse&&)>& emit) {
    for (int64_t chunk = from; chunk <= to; chunk += kReplayChunkRevisions) {
      const int64_t chunk_end = std::min(to, chunk + kReplayChunkRevisions - 1);
      WatchResponse response;
      response.revision = to;
      {
        BERTH_TRY_ASSIGN(auto reader, readers_.Acquire());
        Db& db = reader.db();
        BERTH_TRY_ASSIGN(Query q, db.Prepare(kHistory));
        q.Bind(1, chunk).Bind(2, chunk_end);
        for (;;) {
          BERTH_TRY_ASSIGN(bool row, q.Step());
          if (!row) break;
          std::string_view key = q.BlobView(0);
          if (!range.Contains(key)) continue;
          Event e;
          e.kv = ReadKv(q, std::string(key), 1, true);
          e.type = e.kv.version == 0 ? Event::Type::kDelete : Event::Type::kPut;
          if (e.type == Event::Type::kDelete) e.kv = KeyValue{e.kv.key, "", 0, e.kv.mod_revision};
          response.events.push_back(std::move(e));
        }
        if (prev_kv) {
          for (Event& e : response.events) {
            BERTH_TRY_ASSIGN(Query p, db.Prepare(kPrevBefore));
            p.BindBlob(1, e.kv.key).Bind(2, e.kv.mod_revision);
            BERTH_TRY_ASSIGN(bool row, p.Step());
            if (row && p.Int(2) != 0) e.prev_kv = ReadKv(p, e.kv.key, 0, true);
          }
        }
      }
      const int64_t compacted = compact_guard_.load();
      if (chunk < compacted) {
        *compact_revision = compacted;
        return Fail(
            ErrorCode::kCompacted,
            fmt::format("watch: revision {} is compacted (compact revision {})", chunk, compacted));
      }
      if (!response.events.empty() && !emit(std::move(response))) return {};
    }
    return {};
  }

  const std::string path_;
  const SqliteOptions options_;
  Clock& clock_;
  const int lock_fd_;
  std::unique_ptr<Db> writer_db_;  // the writer thread's connection
  ReaderPool readers_;

  std::atomic<int64_t> committed_revision_;  // last durable revision, published after fsync
  std::atomic<int64_t> compact_guard_;       // raised before a compaction deletes rows
  std::atomic<int64_t> compact_revision_;    // committed compact revision
  int64_t revision_;  // writer thread only: the last committed revision (maybe not yet durable)
  int wal_fd_;        // the WAL, opened by us: the syncer fdatasyncs it
  std::shared_ptr<WalWriteState> wal_state_;  // the writer's WAL shim, if gather_wal_writes

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<WriteRequest*> queue_;  // guarded by queue_mu_
  bool stop_ = false;                // guarded by queue_mu_
  int64_t unsynced_ = 0;             // guarded by queue_mu_: committed batches awaiting fsync

  std::mutex lease_mu_;
  std::map<int64_t, LeaseState> leases_;  // guarded by lease_mu_

  std::mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  bool reaper_stop_ = false;  // guarded by reaper_mu_

  // The live keys at committed_revision_ (cache_current); written by the writer after commit.
  WriterPreferringMutex view_mu_;
  LiveView view_;  // guarded by view_mu_

  std::mt19937_64 rng_;  // writer thread only

  std::atomic<int64_t> batches_{0};
  std::atomic<int64_t> writes_{0};
  std::atomic<int64_t> largest_batch_{0};
  std::atomic<int64_t> failed_batches_{0};
  std::atomic<int64_t> compact_steps_{0};
  std::atomic<int64_t> syncs_{0};
  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> applied_{0};

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<CommittedBatch> sync_queue_;  // guarded by sync_mu_, in commit order
  bool sync_stop_ = false;                  // guarded by sync_mu_
  std::thread publisher_;
  std::mutex publish_mu_;
  std::condition_variable publish_cv_;
  std::vector<CommittedBatch> publish_queue_;  // guarded by publish_mu_, in commit order
  bool publish_stop_ = false;                  // guarded by publish_mu_

  std::mutex broken_mu_;
  std::string broken_;  // guarded by broken_mu_: why the store takes no more writes
  std::atomic<int64_t> compact_longest_step_us_{0};  // written by the writer thread only
  std::atomic<int64_t> compact_step_us_{0};

  std::unique_ptr<WatchHub> hub_;
  std::thread syncer_;
  std::thread writer_;
  std::thread reaper_;
};

Error OpenError(const std::string& path, const Error& e) {
  return Error(e.code, fmt::format("open sqlite store {}: {}", path, e.message));
}

}  // namespace
}  // namespace sqlite

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, SqliteOptions options,
                                               Clock& clock) {
  using namespace sqlite;
  const std::string lock_path = path + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("open sqlite store {}: cannot create lock file {}: {}", path, lock_path,
                            std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Fail(
        ErrorCode::kFailedPrecondition,
        fmt::format("open sqlite store {}: already open (lock {} is held)", path, lock_path));
  }
  auto fail = [&](const Error& e) -> Result<std::unique_ptr<Store>> {
    ::close(fd);
    return std::unexpected(OpenError(path, e));
  };
  if (options.gather_wal_writes && !RegisterWalVfs()) {
    return fail(Error(ErrorCode::kInternal, "cannot register the berth-wal SQLite VFS"));
  }
  auto db = Db::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                     options.gather_wal_writes ? kWalVfsName : nullptr);
  if (!db) return fail(db.error());
  Db& w = **db;
  // The writer's page cache: 32 MiB (SQLite's default is 2 MiB), so deleting history spread
  // over the table (a compaction step) does not spill dirty pages and re-read them.
  if (auto r = w.Exec("PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32768"); !r) {
    return fail(r.error());
  }
  auto mode = w.QueryText("PRAGMA journal_mode = WAL");
  if (!mode) {
    return fail(Error(ErrorCode::kFailedPrecondition,
                      "not a database or corrupt: " + mode.error().message));
  }
  if (*mode != "wal") {
    return fail(Error(ErrorCode::kFailedPrecondition, "cannot use WAL mode (got " + *mode + ")"));
  }
  // NORMAL: a commit writes its WAL frames without fsync; the store's syncer fsyncs the WAL
  // before it acknowledges or shows any write of the commit (SqliteStoreImpl::SyncerLoop).
  // SQLite still syncs the WAL before each checkpoint and the WAL header when it restarts the
  // log, so a crash never corrupts; it can only lose writes nobody was told about.
  if (auto r = w.Exec("PRAGMA synchronous = NORMAL"); !r) return fail(r.error());
  if (options.wal_autocheckpoint_pages < 0) {
    return fail(Error(ErrorCode::kInvalidArgument, "wal_autocheckpoint_pages must be >= 0"));
  }
  if (auto r =
          w.Exec(fmt::format("PRAGMA wal_autocheckpoint = {}", options.wal_autocheckpoint_pages));
      !r) {
    return fail(r.error());
  }
  {
    auto foreign = w.Prepare(kForeignTables);
    if (!foreign) return fail(foreign.error());
    auto row = foreign->Step();
    if (!row) return fail(row.error());
    if (*row && foreign->Int(0) > 0) {
      return fail(Error(ErrorCode::kFailedPrecondition,
                        "not a Berth store (the database has other tables)"));
    }
  }
  if (auto r = w.Exec(std::string("BEGIN IMMEDIATE;") + kSchema + "COMMIT;"); !r) {
    (void)w.Exec("ROLLBACK");
    return fail(r.error());
  }
  // Our own descriptor of the WAL (the schema transaction above created it; SQLite keeps
  // the file while any connection is open, and only truncates it in place).
  const std::string wal_path = path + "-wal";
  int wal_fd = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (wal_fd < 0) {
    return fail(Error(ErrorCode::kUnavailable,
                      fmt::format("cannot open {}: {}", wal_path, std::strerror(errno))));
  }
  if (options.durable && ::fdatasync(wal_fd) != 0) {
    int e = errno;
    ::close(wal_fd);
    return fail(Error(ErrorCode::kUnavailable,
                      fmt::format("fsync of {} failed: {}", wal_path, std::strerror(e))));
  }
  auto fail_wal = [&](const Error& e) {
    ::close(wal_fd);
    return fail(e);
  };
  auto schema = GetMeta(w, "schema_version");
  if (!schema) return fail_wal(schema.error());
  if (*schema != kSchemaVersion) {
    return fail_wal(Error(ErrorCode::kFailedPrecondition,
                          fmt::format("schema version {} is not {} (a newer Berth wrote it?)",
                                      *schema, kSchemaVersion)));
  }
  auto revision = GetMeta(w, "revision");
  if (!revision) return fail_wal(revision.error());
  auto compact = GetMeta(w, "compact_revision");
  if (!compact) return fail_wal(compact.error());
  std::map<int64_t, LeaseState> leases;
  {
    auto q = w.Prepare(kLeaseAll);
    if (!q) return fail_wal(q.error());
    const auto now = clock.Now();
    for (;;) {
      auto row = q->Step();
      if (!row) return fail_wal(row.error());
      if (!*row) break;
      int64_t ttl = q->Int(1);
      leases[q->Int(0)] = LeaseState{ttl, now + std::chrono::seconds(ttl)};
    }
  }
  LiveView view;
  if (options.cache_current) {
    KeyRange all;
    all.end = std::string(1, '\0');
    auto live = RangeAt(w, all, *revision, RangeQuery{});
    if (!live) return fail_wal(live.error());
    for (KeyValue& kv : live->kvs) {
      std::string key = kv.key;
      view.emplace(std::move(key), std::move(kv));
    }
  }
  log::Info(kComponent, "opened {} at revision {} (compacted at {}, {} leases, {} live keys)", path,
            *revision, *compact, leases.size(), view.size());
  return std::unique_ptr<Store>(new SqliteStoreImpl(path, options, clock, fd, std::move(*db),
                                                    wal_fd, *revision, *compact, std::move(leases),
                                                    std::move(view)));
}

}  // namespace berth::store
