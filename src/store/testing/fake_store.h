// An in-memory store::Store for unit tests (registry, gateway, dns...; integration tests use
// the real sqlite store). Revisions, prefix ranges, txn compares, watches from a revision and
// leases that expire by the injected Clock (checked on every call and by ExpireLeases).
// Watch callbacks run synchronously on the writing thread after the write, serialized, in
// revision order. No compaction.
// Thread-safety: every method from any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/clock.h"
#include "store/store.h"

namespace berth::store::testing {

class FakeStore final : public store::Store {
 public:
  explicit FakeStore(Clock& clock) : clock_(clock) {}
  ~FakeStore() override;

  Result<store::RangeResult> Get(std::string_view key, const store::RangeOptions& options) override;
  Result<store::PutResult> Put(std::string_view key, std::string_view value,
                               const store::PutOptions& options) override;
  Result<store::DeleteResult> Delete(std::string_view key,
                                     const store::DeleteOptions& options) override;
  Result<store::TxnResult> Txn(const store::TxnRequest& request) override;
  Result<std::unique_ptr<store::Watcher>> Watch(std::string_view key,
                                                const store::WatchOptions& options,
                                                store::WatchCallback callback) override;
  Result<int64_t> GrantLease(int64_t ttl_seconds, int64_t id) override;
  Result<int64_t> KeepAlive(int64_t lease_id) override;
  Result<void> RevokeLease(int64_t lease_id) override;
  Result<store::LeaseInfo> LeaseTimeToLive(int64_t lease_id, bool with_keys) override;
  Result<std::vector<int64_t>> Leases() override;
  Result<void> Compact(int64_t revision) override;
  Result<int64_t> CurrentRevision() override;
  Result<int64_t> CompactRevision() override;
  std::string_view backend() const override { return "fake"; }

  // Deletes the keys of every lease whose deadline has passed.
  void ExpireLeases();
  // Ends every watch with canceled=true (a lost back-end).
  void CancelAllWatches(std::string reason);

  struct WatchState;

 private:
  struct LeaseState {
    int64_t ttl = 0;
    Clock::TimePoint deadline;
  };
  void ExpireLocked();
  void DeleteKeyLocked(const std::string& key, int64_t rev, std::vector<store::Event>& events);
  void PutLocked(const std::string& key, std::string_view value, int64_t lease, int64_t rev);
  std::vector<std::string> KeysInRange(std::string_view key, bool prefix,
                                       const std::string& range_end) const;
  void Deliver();

  Clock& clock_;
  std::mutex mu_;  // guards the state below
  std::map<std::string, store::KeyValue> data_;
  std::vector<store::Event> history_;
  int64_t rev_ = 1;
  int64_t next_lease_ = 1000;
  std::map<int64_t, LeaseState> leases_;
  std::vector<std::shared_ptr<WatchState>> watches_;
  int64_t next_watch_ = 1;
  std::mutex deliver_mu_;  // one delivery at a time
};

}  // namespace berth::store::testing
