#include "store/testing/fake_store.h"

#include <fmt/core.h>

#include <algorithm>

namespace berth::store::testing {

namespace {
thread_local bool tls_delivering = false;
}

struct FakeStore::WatchState {
  int64_t id = 0;
  std::string key;
  bool prefix = false;
  std::string range_end;
  int64_t next_rev = 0;
  bool prev_kv = false;
  bool canceled = false;        // guarded by mu_
  bool cancel_pending = false;  // send a canceled response
  std::string cancel_reason;
  store::WatchCallback callback;

  bool Matches(const std::string& k) const {
    if (!range_end.empty()) return k >= key && k < range_end;
    if (prefix) return k.starts_with(key);
    return k == key;
  }
};

namespace {
class FakeWatcher final : public store::Watcher {
 public:
  FakeWatcher(std::shared_ptr<FakeStore::WatchState> s, std::mutex& mu, std::mutex& deliver_mu)
      : s_(std::move(s)), mu_(mu), deliver_mu_(deliver_mu) {}
  ~FakeWatcher() override { Cancel(); }
  void Cancel() override {
    {
      std::lock_guard lock(mu_);
      s_->canceled = true;
    }
    if (!tls_delivering) std::lock_guard lock(deliver_mu_);  // wait for a running callback
  }
  int64_t id() const override { return s_->id; }

 private:
  std::shared_ptr<FakeStore::WatchState> s_;
  std::mutex& mu_;
  std::mutex& deliver_mu_;
};
}  // namespace

FakeStore::~FakeStore() = default;

std::vector<std::string> FakeStore::KeysInRange(std::string_view key, bool prefix,
                                                const std::string& range_end) const {
  std::vector<std::string> out;
  if (!range_end.empty()) {
    for (auto it = data_.lower_bound(std::string(key)); it != data_.end() && it->first < range_end;
         ++it) {
      out.push_back(it->first);
    }
  } else if (prefix) {
    for (auto it = data_.lower_bound(std::string(key));
         it != data_.end() && it->first.starts_with(key); ++it) {
      out.push_back(it->first);
    }
  } else if (data_.count(std::string(key))) {
    out.emplace_back(key);
  }
  return out;
}

void FakeStore::ExpireLocked() {
  auto now = clock_.Now();
  std::vector<int64_t> dead;
  for (auto& [id, l] : leases_) {
    if (l.deadline <= now) dead.push_back(id);
  }
  for (int64_t id : dead) {
    leases_.erase(id);
    std::vector<std::string> keys;
    for (auto& [k, kv] : data_) {
      if (kv.lease == id) keys.push_back(k);
    }
    if (keys.empty()) continue;
    ++rev_;
    std::vector<store::Event> ev;
    for (auto& k : keys) DeleteKeyLocked(k, rev_, ev);
    history_.insert(history_.end(), ev.begin(), ev.end());
  }
}

void FakeStore::DeleteKeyLocked(const std::string& key, int64_t rev,
                                std::vector<store::Event>& events) {
  auto it = data_.find(key);
  if (it == data_.end()) return;
  store::Event e;
  e.type = store::Event::Type::kDelete;
  e.kv.key = key;
  e.kv.mod_revision = rev;
  e.prev_kv = it->second;
  events.push_back(std::move(e));
  data_.erase(it);
}

void FakeStore::PutLocked(const std::string& key, std::string_view value, int64_t lease,
                          int64_t rev) {
  auto& kv = data_[key];
  store::Event e;
  e.type = store::Event::Type::kPut;
  if (kv.version > 0) e.prev_kv = kv;
  if (kv.version == 0) kv.create_revision = rev;
  kv.key = key;
  kv.value = value;
  kv.mod_revision = rev;
  kv.version += 1;
  kv.lease = lease;
  e.kv = kv;
  history_.push_back(std::move(e));
}

Result<store::RangeResult> FakeStore::Get(std::string_view key,
                                          const store::RangeOptions& options) {
  std::unique_lock lock(mu_);
  ExpireLocked();
  store::RangeResult r;
  r.revision = rev_;
  for (auto& k : KeysInRange(key, options.prefix, options.range_end)) {
    ++r.count;
    if (options.limit && static_cast<int64_t>(r.kvs.size()) >= options.limit) {
      r.more = true;
      continue;
    }
    if (!options.count_only) r.kvs.push_back(data_[k]);
  }
  lock.unlock();
  Deliver();
  return r;
}

Result<store::PutResult> FakeStore::Put(std::string_view key, std::string_view value,
                                        const store::PutOptions& options) {
  if (auto v = store::ValidateKey(key); !v) return std::unexpected(v.error());
  std::unique_lock lock(mu_);
  ExpireLocked();
  if (options.lease && !leases_.count(options.lease)) {
    return Fail(ErrorCode::kNotFound, fmt::format("lease {} not found", options.lease));
  }
  store::PutResult r;
  auto it = data_.find(std::string(key));
  if (options.prev_kv && it != data_.end()) r.prev_kv = it->second;
  int64_t lease = options.lease;
  if (options.ignore_lease && it != data_.end()) lease = it->second.lease;
  ++rev_;
  PutLocked(std::string(key), value, lease, rev_);
  r.revision = rev_;
  lock.unlock();
  Deliver();
  return r;
}

Result<store::DeleteResult> FakeStore::Delete(std::string_view key,
                                              const store::DeleteOptions& options) {
  std::unique_lock lock(mu_);
  ExpireLocked();
  store::DeleteResult r;
  auto keys = KeysInRange(key, options.prefix, options.range_end);
  if (!keys.empty()) {
    ++rev_;
    std::vector<store::Event> ev;
    for (auto& k : keys) {
      if (options.prev_kv) r.prev_kvs.push_back(data_[k]);
      DeleteKeyLocked(k, rev_, ev);
    }
    history_.insert(history_.end(), ev.begin(), ev.end());
    r.deleted = static_cast<int64_t>(keys.size());
  }
  r.revision = rev_;
  lock.unlock();
  Deliver();
  return r;
}

Result<store::TxnResult> FakeStore::Txn(const store::TxnRequest& request) {
  std::unique_lock lock(mu_);
  ExpireLocked();
  bool ok = true;
  for (const auto& c : request.compare) {
    auto it = data_.find(c.key);
    if (c.target == store::Compare::Target::kValue) {
      if (it == data_.end()) {
        ok = false;
        break;
      }
      int cmp = it->second.value.compare(c.value);
      bool r = c.op == store::Compare::Op::kEqual      ? cmp == 0
               : c.op == store::Compare::Op::kNotEqual ? cmp != 0
               : c.op == store::Compare::Op::kLess     ? cmp < 0
                                                       : cmp > 0;
      ok = ok && r;
      continue;
    }
    int64_t v = 0;
    if (it != data_.end()) {
      switch (c.target) {
        case store::Compare::Target::kVersion:
          v = it->second.version;
          break;
        case store::Compare::Target::kCreateRevision:
          v = it->second.create_revision;
          break;
        case store::Compare::Target::kModRevision:
          v = it->second.mod_revision;
          break;
        case store::Compare::Target::kLease:
          v = it->second.lease;
          break;
        default:
          break;
      }
    }
    bool r = c.op == store::Compare::Op::kEqual      ? v == c.number
             : c.op == store::Compare::Op::kNotEqual ? v != c.number
             : c.op == store::Compare::Op::kLess     ? v < c.number
                                                     : v > c.number;
    ok = ok && r;
  }
  const auto& ops = ok ? request.success : request.failure;
  for (const auto& op : ops) {
    if (op.type == store::TxnOp::Type::kPut && op.lease && !leases_.count(op.lease)) {
      return Fail(ErrorCode::kNotFound, fmt::format("lease {} not found", op.lease));
    }
  }
  store::TxnResult r;
  r.succeeded = ok;
  bool wrote = false;
  for (const auto& op : ops) {
    if (op.type != store::TxnOp::Type::kRange) {
      if (!wrote) ++rev_;
      wrote = true;
    }
  }
  std::vector<store::Event> ev;
  for (const auto& op : ops) {
    store::TxnOpResult res;
    res.type = op.type;
    if (op.type == store::TxnOp::Type::kRange) {
      for (auto& k : KeysInRange(op.key, op.prefix, op.range.range_end)) {
        res.range.kvs.push_back(data_[k]);
      }
      res.range.count = static_cast<int64_t>(res.range.kvs.size());
      res.range.revision = rev_;
    } else if (op.type == store::TxnOp::Type::kPut) {
      PutLocked(op.key, op.value, op.lease, rev_);
      res.put.revision = rev_;
    } else {
      for (auto& k : KeysInRange(op.key, op.prefix, "")) {
        DeleteKeyLocked(k, rev_, ev);
        ++res.del.deleted;
      }
      res.del.revision = rev_;
    }
    r.results.push_back(std::move(res));
  }
  history_.insert(history_.end(), ev.begin(), ev.end());
  r.revision = rev_;
  lock.unlock();
  Deliver();
  return r;
}

Result<std::unique_ptr<store::Watcher>> FakeStore::Watch(std::string_view key,
                                                         const store::WatchOptions& options,
                                                         store::WatchCallback callback) {
  auto s = std::make_shared<WatchState>();
  {
    std::lock_guard lock(mu_);
    s->id = next_watch_++;
    s->key = key;
    s->prefix = options.prefix;
    s->range_end = options.range_end;
    s->next_rev = options.start_revision ? options.start_revision : rev_ + 1;
    s->prev_kv = options.prev_kv;
    s->callback = std::move(callback);
    watches_.push_back(s);
  }
  Deliver();
  return std::unique_ptr<store::Watcher>(new FakeWatcher(s, mu_, deliver_mu_));
}

void FakeStore::Deliver() {
  if (tls_delivering) return;  // the outer delivery loop will pick it up
  std::lock_guard dl(deliver_mu_);
  tls_delivering = true;
  for (;;) {
    std::vector<std::pair<std::shared_ptr<WatchState>, store::WatchResponse>> work;
    {
      std::lock_guard lock(mu_);
      for (auto& w : watches_) {
        if (w->canceled) continue;
        store::WatchResponse resp;
        resp.revision = rev_;
        if (w->cancel_pending) {
          resp.canceled = true;
          resp.cancel_reason = w->cancel_reason;
          w->canceled = true;
          work.emplace_back(w, std::move(resp));
          continue;
        }
        // history_ is in revision order; find the first event >= next_rev.
        auto it = std::lower_bound(
            history_.begin(), history_.end(), w->next_rev,
            [](const store::Event& e, int64_t rev) { return e.kv.mod_revision < rev; });
        for (; it != history_.end(); ++it) {
          if (!w->Matches(it->kv.key)) continue;
          store::Event e = *it;
          if (!w->prev_kv) e.prev_kv.reset();
          resp.events.push_back(std::move(e));
        }
        w->next_rev = rev_ + 1;
        if (!resp.events.empty()) work.emplace_back(w, std::move(resp));
      }
      std::erase_if(watches_, [](const auto& w) { return w->canceled; });
    }
    if (work.empty()) break;
    for (auto& [w, resp] : work) {
      {
        std::lock_guard lock(mu_);
        if (w->canceled && !resp.canceled) continue;
      }
      w->callback(std::move(resp));
    }
  }
  tls_delivering = false;
}

Result<int64_t> FakeStore::GrantLease(int64_t ttl_seconds, int64_t id) {
  if (ttl_seconds < 1) return Fail(ErrorCode::kInvalidArgument, "lease ttl must be >= 1");
  std::lock_guard lock(mu_);
  if (id == 0) id = next_lease_++;
  leases_[id] = LeaseState{ttl_seconds, clock_.Now() + std::chrono::seconds(ttl_seconds)};
  return id;
}

Result<int64_t> FakeStore::KeepAlive(int64_t lease_id) {
  std::unique_lock lock(mu_);
  ExpireLocked();
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) {
    lock.unlock();
    Deliver();
    return Fail(ErrorCode::kNotFound, fmt::format("lease {} not found", lease_id));
  }
  it->second.deadline = clock_.Now() + std::chrono::seconds(it->second.ttl);
  return it->second.ttl;
}

Result<void> FakeStore::RevokeLease(int64_t lease_id) {
  std::unique_lock lock(mu_);
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) {
    return Fail(ErrorCode::kNotFound, fmt::format("lease {} not found", lease_id));
  }
  it->second.deadline = Clock::TimePoint::min();
  ExpireLocked();
  lock.unlock();
  Deliver();
  return {};
}

Result<store::LeaseInfo> FakeStore::LeaseTimeToLive(int64_t lease_id, bool with_keys) {
  std::unique_lock lock(mu_);
  ExpireLocked();
  store::LeaseInfo info;
  info.id = lease_id;
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) {
    info.ttl = -1;
  } else {
    info.granted_ttl = it->second.ttl;
    info.ttl = std::chrono::duration_cast<std::chrono::seconds>(it->second.deadline - clock_.Now())
                   .count();
  }
  lock.unlock();
  Deliver();
  return info;
}

Result<std::vector<int64_t>> FakeStore::Leases() {
  std::lock_guard lock(mu_);
  std::vector<int64_t> out;
  for (auto& [id, l] : leases_) out.push_back(id);
  return out;
}

Result<void> FakeStore::Compact(int64_t) { return {}; }
Result<int64_t> FakeStore::CurrentRevision() {
  std::lock_guard lock(mu_);
  return rev_;
}
Result<int64_t> FakeStore::CompactRevision() { return 0; }

void FakeStore::ExpireLeases() {
  {
    std::lock_guard lock(mu_);
    ExpireLocked();
  }
  Deliver();
}

void FakeStore::CancelAllWatches(std::string reason) {
  {
    std::lock_guard lock(mu_);
    for (auto& w : watches_) {
      w->cancel_pending = true;
      w->cancel_reason = reason;
    }
  }
  Deliver();
}

}  // namespace berth::store::testing
