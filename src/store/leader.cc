#include "store/leader.h"

#include <utility>

namespace berth::store {

LeaderElection::LeaderElection(Store& store, Clock& clock, LeaderElectionOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

Compare LeaderElection::Guard() const {
  return Compare{.key = options_.key,
                 .target = Compare::Target::kLease,
                 .op = Compare::Op::kEqual,
                 .number = lease_.load()};
}

Result<bool> LeaderElection::Tick() {
  if (!leading()) return Campaign();
  // The key must still be ours: deleted or replaced by hand, another candidate may lead now.
  if (auto cur = store_.Get(options_.key);
      cur && (cur->kvs.empty() || cur->kvs[0].lease != lease_.load())) {
    last_loss_ = "the leader key " + options_.key + " is no longer under this candidate's lease";
    Resign();
    return false;
  }
  if (clock_.Now() - last_keepalive_ >= std::chrono::seconds(options_.ttl_seconds) / 3) {
    auto k = store_.KeepAlive(lease_.load());
    if (!k) {
      last_loss_ = "lease keep-alive: " + k.error().message;
      StepDown();
      return false;
    }
    last_keepalive_ = clock_.Now();
  }
  return true;
}

Result<bool> LeaderElection::Campaign() {
  auto cur = store_.Get(options_.key);
  if (!cur) return std::unexpected(Wrap(cur.error(), "read leader key " + options_.key));
  TxnRequest txn;
  int64_t old_lease = 0;
  if (cur->kvs.empty()) {
    txn.compare.push_back({.key = options_.key,
                           .target = Compare::Target::kCreateRevision,
                           .op = Compare::Op::kEqual,
                           .number = 0});
  } else if (cur->kvs[0].value == options_.id) {
    // Our own key from an earlier run (a restart within the lease TTL): take it over.
    old_lease = cur->kvs[0].lease;
    txn.compare.push_back({.key = options_.key,
                           .target = Compare::Target::kModRevision,
                           .op = Compare::Op::kEqual,
                           .number = cur->kvs[0].mod_revision});
  } else {
    return false;
  }
  auto lease = store_.GrantLease(options_.ttl_seconds);
  if (!lease) return std::unexpected(Wrap(lease.error(), "grant leader lease"));
  txn.success.push_back(TxnOp::Put(options_.key, options_.id, *lease));
  auto r = store_.Txn(txn);
  if (!r || !r->succeeded) {
    (void)store_.RevokeLease(*lease);
    if (!r) return std::unexpected(Wrap(r.error(), "campaign for " + options_.key));
    return false;
  }
  if (old_lease != 0 && old_lease != *lease) (void)store_.RevokeLease(old_lease);
  last_keepalive_ = clock_.Now();
  last_loss_.clear();
  lease_ = *lease;
  return true;
}

void LeaderElection::StepDown() { lease_ = 0; }

void LeaderElection::Resign() {
  const int64_t lease = lease_.exchange(0);
  if (lease != 0) (void)store_.RevokeLease(lease);
}

}  // namespace berth::store
