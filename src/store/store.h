// The Store: Berth's spine. An MVCC key-value store with etcd v3 semantics, behind which sit
// two back-ends that pass one conformance suite: `sqlite` (embedded, default) and `etcd`.
//
// Semantics (as etcd's):
// - Every successful write (put, delete that deleted something, txn with a write) raises the
//   global revision by exactly one; all writes of one txn share that revision.
// - A key's create_revision, mod_revision and version (1 on create, +1 per put, reset by
//   delete) are kept per key.
// - Watch(key or prefix, from_revision) delivers every event with revision >= from_revision
//   in revision order, never dropping or reordering one; events of one revision arrive in one
//   WatchResponse. from_revision 0 means "from now". A from_revision at or below the
//   compacted revision fails the watch with `compacted` (and the compact revision).
// - Leases have a TTL in seconds; when a lease expires or is revoked, its keys are deleted
//   (one revision) and watchers see delete events.
// - Compact(rev) forgets history below rev; reads at an older revision fail with kCompacted.
//
// Thread-safety: every method may be called from any thread concurrently. Watch callbacks
// run on a thread owned by the store, one watch's callbacks never concurrently; a callback
// must not block for long and may call back into the store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"

namespace berth::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;

  bool operator==(const KeyValue&) const = default;
};

struct RangeOptions {
  bool prefix = false;    // treat key as a prefix ("" with prefix: every key)
  std::string range_end;  // explicit [key, range_end) when non-empty (overrides prefix)
  int64_t limit = 0;      // 0: no limit
  int64_t revision = 0;   // 0: latest; otherwise read as of that revision
  bool keys_only = false;
  bool count_only = false;
  // etcd's serializable read: may be served from a member's (or the etcd back-end's
  // mirror's) state without a round trip to confirm it is the latest, so it may miss writes
  // acknowledged elsewhere a moment ago; never older than what this process read or wrote
  // before. Off (the default): linearizable. The sqlite back-end is always both.
  bool serializable = false;
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // sorted by key
  int64_t count = 0;          // how many keys match, ignoring limit
  bool more = false;          // limit cut the result
  int64_t revision = 0;       // store revision when served
};

struct PutOptions {
  int64_t lease = 0;
  bool prev_kv = false;
  bool ignore_lease = false;  // keep the key's current lease (etcd's ignore_lease)
};

struct PutResult {
  int64_t revision = 0;
  std::optional<KeyValue> prev_kv;
};

struct DeleteOptions {
  bool prefix = false;
  std::string range_end;
  bool prev_kv = false;
};

struct DeleteResult {
  int64_t revision = 0;  // store revision after the call (unchanged when nothing deleted)
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

struct Compare {
  enum class Target { kValue, kVersion, kCreateRevision, kModRevision, kLease };
  enum class Op { kEqual, kNotEqual, kLess, kGreater };
  std::string key;
  Target target = Target::kVersion;
  Op op = Op::kEqual;
  int64_t number = 0;  // for every target but kValue; a missing key has 0 for each
  std::string value;   // for kValue; a missing key never compares (etcd: false)
};

struct TxnOp {
  enum class Type { kRange, kPut, kDelete };
  Type type = Type::kRange;
  std::string key;
  std::string value;     // put
  int64_t lease = 0;     // put
  bool prefix = false;   // range, delete
  RangeOptions range;    // range (its prefix field is ignored; use `prefix` above)
  bool prev_kv = false;  // put, delete

  static TxnOp Get(std::string key, bool prefix = false);
  static TxnOp Put(std::string key, std::string value, int64_t lease = 0);
  static TxnOp Delete(std::string key, bool prefix = false);
};

struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnOpResult {
  TxnOp::Type type = TxnOp::Type::kRange;
  RangeResult range;  // for kRange
  PutResult put;      // for kPut
  DeleteResult del;   // for kDelete
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;  // store revision after the txn
  std::vector<TxnOpResult> results;
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for delete: key and mod_revision (the delete's revision) only
  std::optional<KeyValue> prev_kv;
};

struct WatchOptions {
  bool prefix = false;
  std::string range_end;
  int64_t start_revision = 0;  // 0: from the next revision
  bool prev_kv = false;
};

struct WatchResponse {
  std::vector<Event> events;  // in revision order
  int64_t revision = 0;       // store revision at delivery (header revision)
  bool compacted = false;     // watch start fell below the compact revision; watch is over
  int64_t compact_revision = 0;
  bool canceled = false;  // the store ended the watch (shutdown, back-end lost)
  std::string cancel_reason;
};

using WatchCallback = std::function<void(WatchResponse&& response)>;

// A live watch. Destroying it (or Cancel) stops callbacks; after Cancel returns no callback
// is running or will run.
class Watcher {
 public:
  virtual ~Watcher() = default;
  virtual void Cancel() = 0;
  virtual int64_t id() const = 0;
};

struct LeaseInfo {
  int64_t id = 0;
  int64_t ttl = 0;  // seconds remaining (rounded down), -1 when expired/unknown
  int64_t granted_ttl = 0;
  std::vector<std::string> keys;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<RangeResult> Get(std::string_view key, const RangeOptions& options = {}) = 0;
  virtual Result<PutResult> Put(std::string_view key, std::string_view value,
                                const PutOptions& options = {}) = 0;
  virtual Result<DeleteResult> Delete(std::string_view key, const DeleteOptions& options = {}) = 0;
  virtual Result<TxnResult> Txn(const TxnRequest& request) = 0;

  virtual Result<std::unique_ptr<Watcher>> Watch(std::string_view key, const WatchOptions& options,
                                                 WatchCallback callback) = 0;

  // Grants a lease of `ttl_seconds` (>= 1). `id` 0 lets the store choose.
  virtual Result<int64_t> GrantLease(int64_t ttl_seconds, int64_t id = 0) = 0;
  // Renews the lease to its granted TTL; returns the new TTL; kNotFound when expired.
  virtual Result<int64_t> KeepAlive(int64_t lease_id) = 0;
  virtual Result<void> RevokeLease(int64_t lease_id) = 0;
  virtual Result<LeaseInfo> LeaseTimeToLive(int64_t lease_id, bool with_keys = false) = 0;
  virtual Result<std::vector<int64_t>> Leases() = 0;

  // Forgets history below `revision` (must be <= the current revision).
  virtual Result<void> Compact(int64_t revision) = 0;

  virtual Result<int64_t> CurrentRevision() = 0;
  virtual Result<int64_t> CompactRevision() = 0;

  // "sqlite" or "etcd".
  virtual std::string_view backend() const = 0;
};

// The end of the range covering every key with `prefix` (etcd's prefix-end rule: "" means
// every key when prefix is empty -> "\0").
std::string PrefixEnd(std::string_view prefix);

// Validates a key for storage: non-empty, at most 1 KiB... (etcd allows 1.5 MiB requests;
// we keep keys small), no NUL bytes.
Result<void> ValidateKey(std::string_view key);
constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxValueBytes = 1536 * 1024;  // etcd's default request limit

struct StoreOptions {
  std::string url;         // "sqlite:///path/to/db" or "etcd://h1:p1,h2:p2"
  std::string data_dir;    // for sqlite when url is just "sqlite"
  Clock* clock = nullptr;  // lease expiry for sqlite; must outlive the store
  // Key prefixes of write-mostly data (the audit trail) that the etcd back-end keeps out of
  // its in-memory mirror; reads under them go to etcd. Ignored by sqlite.
  std::vector<std::string> uncached_prefixes;
  // TLS to etcd (its --client-cert-auth, --trusted-ca-file): with a CA file the endpoints are
  // https; a client certificate and key when etcd asks for one. Ignored by sqlite.
  std::string etcd_ca_file;
  std::string etcd_cert_file;
  std::string etcd_key_file;
};

// Opens the back-end named by `url`: "sqlite" (db in data_dir/store.db), "sqlite:///abs/path",
// or "etcd://host:port[,host:port...]". Defined in store/open.cc.
Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options);

}  // namespace berth::store
