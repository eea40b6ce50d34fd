#include "store/etcd/etcd_store.h"

#include <fmt/core.h>
#include <grpcpp/support/async_unary_call.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "core/log.h"
#include "store/async_read.h"
#include "store/async_txn.h"
#include "store/etcd/internal/async_unary.h"
#include "store/etcd/internal/convert.h"
#include "store/etcd/internal/kv_mirror.h"
#include "store/etcd/internal/members.h"
#include "store/etcd/internal/mirror_feed.h"
#include "store/etcd/internal/revision_fence.h"
#include "store/etcd/internal/watch_stream.h"

namespace berth::store {
namespace {

namespace pb = ::etcdserverpb;
using etcd_internal::AsyncUnary;
using etcd_internal::KvMirror;
using etcd_internal::Members;
using etcd_internal::MirrorFeed;
using etcd_internal::Retry;
using etcd_internal::RevisionFence;
using etcd_internal::WatchStream;

class EtcdWatcher final : public Watcher {
 public:
  explicit EtcdWatcher(std::shared_ptr<WatchStream> stream) : stream_(std::move(stream)) {}
  ~EtcdWatcher() override { stream_->Stop(); }
  void Cancel() override { stream_->Stop(); }
  int64_t id() const override { return stream_->id(); }

 private:
  std::shared_ptr<WatchStream> stream_;
};

class EtcdStore final : public Store, public AsyncTxnStore, public AsyncReadStore {
 public:
  EtcdStore(std::shared_ptr<Members> members, EtcdOptions options)
      : members_(std::move(members)),
        options_(std::move(options)),
        fence_([this](RevisionFence::Callback done) { FetchRevisionAsync(std::move(done)); }) {}

  ~EtcdStore() override {
    closing_ = true;
    if (feed_) feed_->Stop();
    std::vector<std::weak_ptr<WatchStream>> watches;
    {
      std::lock_guard lock(mu_);
      watches.swap(watches_);
    }
    for (auto& w : watches) {
      if (auto s = w.lock()) s->Stop();
    }
    {
      std::unique_lock lock(async_mu_);
      async_cv_.wait(lock, [&] { return async_in_flight_ == 0; });
    }
    members_->Shutdown();
  }

  void StartMirror() {
    if (!options_.mirror) return;
    mirror_ = std::make_shared<KvMirror>(options_.mirror_uncached);
    feed_ = std::make_shared<MirrorFeed>(
        members_, mirror_,
        etcd_internal::MirrorFeedOptions{.retry_initial = options_.watch_retry_initial,
                                         .retry_max = options_.watch_retry_max,
                                         .on_attempt = AttemptObserver(0)});
    feed_->Start();
  }

  Result<RangeResult> Get(std::string_view key, const RangeOptions& options) override {
    if (key.empty() && !options.prefix && options.range_end.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "etcd: get: key is empty");
    }
    if (options.revision == 0 && mirror_ != nullptr && mirror_->ready() &&
        mirror_->Covers(key, options)) {
      // Serializable: no older than anything this process saw acknowledged. Linearizable:
      // no older than a revision fetched after the read began.
      int64_t floor = observed_->load();
      if (!options.serializable) {
        auto fence = fence_.Fetch();
        if (!fence) return std::unexpected(Wrap(fence.error(), "etcd: get"));
        floor = *fence;
        Observe(floor);
      }
      auto deadline = std::chrono::steady_clock::now() + options_.mirror_wait;
      if (mirror_->WaitFor(floor, deadline)) {
        if (auto r = mirror_->Read(key, options)) return std::move(*r);
      }
    }
    return GetFromEtcd(key, options);
  }

  Result<PutResult> Put(std::string_view key, std::string_view value,
                        const PutOptions& options) override {
    if (auto ok = etcd_internal::ValidatePut(key, value, "put"); !ok) {
      return std::unexpected(ok.error());
    }
    pb::PutRequest request;
    etcd_internal::EncodePut(key, value, options, &request);
    pb::PutResponse response;
    auto r = members_->Call("put", Retry::kIfNotProposed,
                            [&](size_t member, grpc::ClientContext& context) {
                              return members_->kv(member).Put(&context, request, &response);
                            });
    if (!r) return std::unexpected(r.error());
    Observe(response.header().revision());
    return etcd_internal::DecodePut(response);
  }

  Result<DeleteResult> Delete(std::string_view key, const DeleteOptions& options) override {
    if (key.empty() && !options.prefix && options.range_end.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "etcd: delete: key is empty");
    }
    pb::DeleteRangeRequest request;
    etcd_internal::EncodeDelete(key, options, &request);
    pb::DeleteRangeResponse response;
    auto r = members_->Call("deleterange", Retry::kIfNotProposed,
                            [&](size_t member, grpc::ClientContext& context) {
                              return members_->kv(member).DeleteRange(&context, request, &response);
                            });
    if (!r) return std::unexpected(r.error());
    Observe(response.header().revision());
    return etcd_internal::DecodeDelete(response);
  }

  Result<TxnResult> Txn(const TxnRequest& txn) override {
    bool writes = false;
    if (auto ok = etcd_internal::ValidateTxn(txn, &writes); !ok) return std::unexpected(ok.error());
    if (IsPlainPut(txn)) {
      const TxnOp& op = txn.success[0];
      auto put = Put(op.key, op.value, PutOptions{.lease = op.lease, .prev_kv = op.prev_kv});
      if (!put) return std::unexpected(put.error());
      return PutAsTxnResult(std::move(*put));
    }
    pb::TxnRequest request;
    etcd_internal::EncodeTxn(txn, &request);
    pb::TxnResponse response;
    auto r = members_->Call("txn", writes ? Retry::kIfNotProposed : Retry::kAlways,
                            [&](size_t member, grpc::ClientContext& context) {
                              return members_->kv(member).Txn(&context, request, &response);
                            });
    if (!r) return std::unexpected(r.error());
    auto result = etcd_internal::DecodeTxn(std::move(response), txn);
    if (result) Observe(result->revision);
    return result;
  }

  void TxnAsync(TxnRequest txn, std::function<void(Result<TxnResult>)> done) override;
  void GetAsync(std::string key, RangeOptions options,
                std::function<void(Result<RangeResult>)> done) override;

  Result<std::unique_ptr<Watcher>> Watch(std::string_view key, const WatchOptions& options,
                                         WatchCallback callback) override;

  Result<int64_t> GrantLease(int64_t ttl_seconds, int64_t id) override {
    if (ttl_seconds < 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("etcd: lease grant: TTL {} is below 1 second", ttl_seconds));
    }
    pb::LeaseGrantRequest request;
    request.set_ttl(ttl_seconds);
    request.set_id(id);
    pb::LeaseGrantResponse response;
    auto r = members_->Call(
        "lease grant", Retry::kIfNotProposed, [&](size_t member, grpc::ClientContext& context) {
          return members_->lease(member).LeaseGrant(&context, request, &response);
        });
    if (!r) return std::unexpected(r.error());
    if (!response.error().empty()) {
      return std::unexpected(etcd_internal::ErrorFromGrpc(0, response.error(), "lease grant"));
    }
    if (response.id() == 0) return Fail(ErrorCode::kInternal, "etcd: lease grant: no ID");
    return response.id();
  }

  Result<int64_t> KeepAlive(int64_t lease_id) override;

  Result<void> RevokeLease(int64_t lease_id) override {
    pb::LeaseRevokeRequest request;
    request.set_id(lease_id);
    pb::LeaseRevokeResponse response;
    return members_->Call(
        "lease revoke", Retry::kIfNotProposed, [&](size_t member, grpc::ClientContext& context) {
          return members_->lease(member).LeaseRevoke(&context, request, &response);
        });
  }

  Result<LeaseInfo> LeaseTimeToLive(int64_t lease_id, bool with_keys) override {
    pb::LeaseTimeToLiveRequest request;
    request.set_id(lease_id);
    request.set_keys(with_keys);
    pb::LeaseTimeToLiveResponse response;
    auto r = members_->Call(
        "lease timetolive", Retry::kAlways, [&](size_t member, grpc::ClientContext& context) {
          return members_->lease(member).LeaseTimeToLive(&context, request, &response);
        });
    if (!r) return std::unexpected(r.error());
    LeaseInfo info;
    info.id = lease_id;
    info.ttl = response.ttl();
    info.granted_ttl = response.grantedttl();
    if (info.ttl <= 0 && info.granted_ttl == 0) info.ttl = -1;
    for (const auto& k : response.keys()) info.keys.push_back(k);
    std::sort(info.keys.begin(), info.keys.end());
    return info;
  }

  Result<std::vector<int64_t>> Leases() override {
    pb::LeaseLeasesRequest request;
    pb::LeaseLeasesResponse response;
    auto r = members_->Call(
        "lease leases", Retry::kAlways, [&](size_t member, grpc::ClientContext& context) {
          return members_->lease(member).LeaseLeases(&context, request, &response);
        });
    if (!r) return std::unexpected(r.error());
    std::vector<int64_t> ids;
    for (const auto& l : response.leases()) ids.push_back(l.id());
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  Result<void> Compact(int64_t revision) override {
    if (revision < 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("etcd: compact: revision {} is below 1", revision));
    }
    pb::CompactionRequest request;
    request.set_revision(revision);
    request.set_physical(true);
    pb::CompactionResponse response;
    auto r = members_->Call("compaction", Retry::kIfNotProposed,
                            [&](size_t member, grpc::ClientContext& context) {
                              return members_->kv(member).Compact(&context, request, &response);
                            });
    if (!r) return std::unexpected(r.error());
    std::lock_guard lock(mu_);
    known_compact_ = std::max(known_compact_, revision);
    return {};
  }

  // A revision at least as new as every write acknowledged before the call (shared with
  // concurrent callers).
  Result<int64_t> CurrentRevision() override {
    auto r = fence_.Fetch();
    if (r) Observe(*r);
    return r;
  }

  Result<int64_t> CompactRevision() override;

  std::string_view backend() const override { return "etcd"; }

 private:
  Result<RangeResult> GetFromEtcd(std::string_view key, const RangeOptions& options) {
    pb::RangeRequest request;
    etcd_internal::EncodeRange(key, options, options.prefix, &request);
    request.set_serializable(options.serializable);
    pb::RangeResponse response;
    auto r =
        members_->Call("range", Retry::kAlways, [&](size_t member, grpc::ClientContext& context) {
          return members_->kv(member).Range(&context, request, &response);
        });
    if (!r) return std::unexpected(r.error());
    if (!options.serializable && options.revision == 0) Observe(response.header().revision());
    return etcd_internal::DecodeRange(std::move(response));
  }

  // The revision of a linearizable read of one key nobody writes ("\0"), on the completion
  // thread; on a transient failure it fails over (on a thread that may wait).
  void FetchRevisionAsync(RevisionFence::Callback done);
  // A Range sent to etcd without a thread waiting, failing over like GetFromEtcd.
  void GetFromEtcdAsync(std::string key, RangeOptions options,
                        std::function<void(Result<RangeResult>)> done);
  // Answers a read from the mirror once it reached `floor`, or from etcd.
  void ReadAtLeast(int64_t floor, std::string key, RangeOptions options,
                   std::function<void(Result<RangeResult>)> done);
  // Counts an asynchronous operation in flight until the token goes (the destructor waits
  // for none to be left).
  std::shared_ptr<void> InFlight() {
    {
      std::lock_guard lock(async_mu_);
      ++async_in_flight_;
    }
    return std::shared_ptr<void>(nullptr, [this](void*) { EndAsync(); });
  }

  // A count-only read at `revision`: ok, kCompacted below the compact revision.
  Result<void> ProbeRevision(int64_t revision) {
    auto r = GetFromEtcd(std::string_view("\0", 1),
                         RangeOptions{.revision = revision, .count_only = true});
    if (!r) return std::unexpected(r.error());
    return {};
  }

  // A txn that is exactly one put, unconditional: etcd's Put says the same, for less.
  static bool IsPlainPut(const TxnRequest& txn) {
    return txn.compare.empty() && txn.failure.empty() && txn.success.size() == 1 &&
           txn.success[0].type == TxnOp::Type::kPut;
  }
  static TxnResult PutAsTxnResult(PutResult put) {
    TxnResult out;
    out.succeeded = true;
    out.revision = put.revision;
    out.results.push_back(TxnOpResult{.type = TxnOp::Type::kPut, .put = std::move(put)});
    return out;
  }
  // Remembers a revision this process has seen acknowledged: serializable reads from the
  // mirror wait until it reflects the newest (read-your-writes, monotonic reads).
  void Observe(int64_t revision) { ObserveIn(*observed_, revision); }
  static void ObserveIn(std::atomic<int64_t>& observed, int64_t revision) {
    int64_t seen = observed.load(std::memory_order_relaxed);
    while (revision > seen &&
           !observed.compare_exchange_weak(seen, revision, std::memory_order_relaxed)) {
    }
  }

  std::function<void(size_t)> AttemptObserver(int64_t id) const {
    if (!options_.watch_attempt_observer) return {};
    return [observer = options_.watch_attempt_observer, members = members_.get(), id](size_t m) {
      observer(id, members->endpoint(m));
    };
  }

  void EndAsync() {
    std::lock_guard lock(async_mu_);
    if (--async_in_flight_ == 0) async_cv_.notify_all();
  }

  const std::shared_ptr<Members> members_;
  const EtcdOptions options_;
  RevisionFence fence_;
  std::shared_ptr<KvMirror> mirror_;  // null when options_.mirror is off; fixed after open
  std::shared_ptr<MirrorFeed> feed_;
  std::atomic<int64_t> next_watch_id_{0};
  // See Observe; shared with the watches, whose events count as seen too.
  const std::shared_ptr<std::atomic<int64_t>> observed_ = std::make_shared<std::atomic<int64_t>>(0);
  std::mutex mu_;
  std::vector<std::weak_ptr<WatchStream>> watches_;  // guarded by mu_
  int64_t known_compact_ = 0;                        // guarded by mu_
  std::mutex async_mu_;
  std::condition_variable async_cv_;
  int64_t async_in_flight_ = 0;  // guarded by async_mu_
  std::atomic<bool> closing_{false};
};

void EtcdStore::TxnAsync(TxnRequest txn, std::function<void(Result<TxnResult>)> done) {
  bool writes = false;
  if (auto ok = etcd_internal::ValidateTxn(txn, &writes); !ok) {
    return done(std::unexpected(ok.error()));
  }
  const size_t member = members_->preferred();
  auto shared_txn = std::make_shared<TxnRequest>(std::move(txn));
  // The outcome of a call, on the completion thread: answered, failed for good, or (when
  // another member may take it) retried on a thread that may wait.
  auto finish = [this, member, writes, shared_txn, done = std::move(done), token = InFlight()](
                    const grpc::Status& status, Result<TxnResult> result) {
    if (status.ok()) {
      if (result) Observe(result->revision);
      return done(std::move(result));
    }
    Error e = etcd_internal::ErrorFromStatus(status, "txn");
    bool transient = e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded;
    if (transient && (!writes || etcd_internal::NotProposed(status))) {
      members_->MarkFailed(member);
      return members_->RunBlocking([this, shared_txn, done, token] { done(Txn(*shared_txn)); });
    }
    if (transient) {
      e = Error(ErrorCode::kUnavailable,
                fmt::format("etcd: txn: {} did not answer and the outcome is unknown (the write "
                            "may or may not have been applied): {}",
                            members_->endpoint(member), status.error_message()));
    }
    done(std::unexpected(std::move(e)));
  };
  auto& kv = members_->kv(member);
  if (IsPlainPut(*shared_txn)) {
    // One unconditional put travels as a Put (etcd 3.4 applies a Txn at about half the rate
    // of a Put: bench/store's etcd_grpc_txn_writes).
    const TxnOp& op = shared_txn->success[0];
    pb::PutRequest request;
    etcd_internal::EncodePut(op.key, op.value, PutOptions{.lease = op.lease, .prev_kv = op.prev_kv},
                             &request);
    AsyncUnary<pb::PutResponse>::Start(
        *members_,
        [&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
          return kv.AsyncPut(c, request, cq);
        },
        [finish = std::move(finish)](const grpc::Status& status, pb::PutResponse& response) {
          finish(status, PutAsTxnResult(etcd_internal::DecodePut(response)));
        });
    return;
  }
  pb::TxnRequest request;
  etcd_internal::EncodeTxn(*shared_txn, &request);
  AsyncUnary<pb::TxnResponse>::Start(
      *members_,
      [&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
        return kv.AsyncTxn(c, request, cq);
      },
      [finish = std::move(finish), shared_txn](const grpc::Status& status,
                                               pb::TxnResponse& response) {
        if (!status.ok()) return finish(status, Fail(ErrorCode::kInternal, "unused"));
        finish(status, etcd_internal::DecodeTxn(std::move(response), *shared_txn));
      });
}

void EtcdStore::FetchRevisionAsync(RevisionFence::Callback done) {
  const size_t member = members_->preferred();
  pb::RangeRequest request;
  request.set_key(std::string(1, '\0'));
  request.set_count_only(true);
  AsyncUnary<pb::RangeResponse>::Start(
      *members_,
      [&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
        return members_->kv(member).AsyncRange(c, request, cq);
      },
      [this, member, done = std::move(done), token = InFlight()](const grpc::Status& status,
                                                                 pb::RangeResponse& response) {
        if (status.ok()) return done(response.header().revision());
        members_->MarkFailed(member);
        members_->RunBlocking([this, done, token] {
          auto r = GetFromEtcd(std::string_view("\0", 1), RangeOptions{.count_only = true});
          if (!r) return done(std::unexpected(r.error()));
          done(r->revision);
        });
      });
}

void EtcdStore::GetFromEtcdAsync(std::string key, RangeOptions options,
                                 std::function<void(Result<RangeResult>)> done) {
  const size_t member = members_->preferred();
  pb::RangeRequest request;
  etcd_internal::EncodeRange(key, options, options.prefix, &request);
  request.set_serializable(options.serializable);
  AsyncUnary<pb::RangeResponse>::Start(
      *members_,
      [&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
        return members_->kv(member).AsyncRange(c, request, cq);
      },
      [this, member, key = std::move(key), options, done = std::move(done), token = InFlight()](
          const grpc::Status& status, pb::RangeResponse& response) {
        if (status.ok()) {
          if (!options.serializable && options.revision == 0) {
            Observe(response.header().revision());
          }
          return done(etcd_internal::DecodeRange(std::move(response)));
        }
        Error e = etcd_internal::ErrorFromStatus(status, "range");
        if (e.code != ErrorCode::kUnavailable && e.code != ErrorCode::kDeadlineExceeded) {
          return done(std::unexpected(std::move(e)));
        }
        members_->MarkFailed(member);
        members_->RunBlocking(
            [this, key, options, done, token] { done(GetFromEtcd(key, options)); });
      });
}

void EtcdStore::ReadAtLeast(int64_t floor, std::string key, RangeOptions options,
                            std::function<void(Result<RangeResult>)> done) {
  auto shared_done = std::make_shared<std::function<void(Result<RangeResult>)>>(std::move(done));
  auto answer = [this, key, options, shared_done](bool reached) {
    if (reached) {
      if (auto r = mirror_->Read(key, options)) return (*shared_done)(std::move(*r));
    }
    if (closing_) return (*shared_done)(Fail(ErrorCode::kUnavailable, "etcd: store closed"));
    GetFromEtcdAsync(key, options, std::move(*shared_done));
  };
  uint64_t id = mirror_->WhenReached(floor, std::move(answer));
  if (id == 0) return;  // answered
  // A mirror that lags for long is not waited for: etcd answers instead.
  std::weak_ptr<KvMirror> weak = mirror_;
  members_->timers().PostAfter(options_.mirror_wait, [weak, id] {
    if (auto m = weak.lock()) m->Expire(id);
  });
}

void EtcdStore::GetAsync(std::string key, RangeOptions options,
                         std::function<void(Result<RangeResult>)> done) {
  if (key.empty() && !options.prefix && options.range_end.empty()) {
    return done(Fail(ErrorCode::kInvalidArgument, "etcd: get: key is empty"));
  }
  if (options.revision != 0 || mirror_ == nullptr || !mirror_->ready() ||
      !mirror_->Covers(key, options)) {
    return GetFromEtcdAsync(std::move(key), options, std::move(done));
  }
  if (options.serializable)
    return ReadAtLeast(observed_->load(), std::move(key), options, std::move(done));
  fence_.FetchAsync(
      [this, key = std::move(key), options, done = std::move(done)](Result<int64_t> fence) mutable {
        if (!fence) return done(std::unexpected(Wrap(fence.error(), "etcd: get")));
        Observe(*fence);
        ReadAtLeast(*fence, std::move(key), options, std::move(done));
      });
}

Result<std::unique_ptr<Watcher>> EtcdStore::Watch(std::string_view key, const WatchOptions& options,
                                                  WatchCallback callback) {
  if (key.empty() && !options.prefix && options.range_end.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "etcd: watch: key is empty");
  }
  if (!callback) return Fail(ErrorCode::kInvalidArgument, "etcd: watch: no callback");
  int64_t start = options.start_revision;
  if (start <= 0) {
    // "From now" becomes a concrete revision before Watch returns, so a write that follows
    // the call is always seen, however late the stream is established.
    auto current = CurrentRevision();
    if (!current) return std::unexpected(Wrap(current.error(), "etcd: watch"));
    start = *current + 1;
  }
  const int64_t id = next_watch_id_.fetch_add(1) + 1;
  auto stream = std::make_shared<WatchStream>(
      members_, id,
      etcd_internal::WatchStreamOptions{
          .range = etcd_internal::MakeKeyRange(key, options.prefix, options.range_end),
          .start_revision = start,
          .prev_kv = options.prev_kv,
          .retry_initial = options_.watch_retry_initial,
          .retry_max = options_.watch_retry_max,
          .on_attempt = AttemptObserver(id)},
      [observed = observed_, callback = std::move(callback)](WatchResponse&& r) {
        if (!r.events.empty()) ObserveIn(*observed, r.events.back().kv.mod_revision);
        callback(std::move(r));
      });
  {
    std::lock_guard lock(mu_);
    std::erase_if(watches_, [](const auto& w) { return w.expired(); });
    watches_.push_back(stream);
  }
  stream->Start();
  return std::make_unique<EtcdWatcher>(std::move(stream));
}

Result<int64_t> EtcdStore::KeepAlive(int64_t lease_id) {
  pb::LeaseKeepAliveRequest request;
  request.set_id(lease_id);
  pb::LeaseKeepAliveResponse response;
  auto r = members_->Call(
      "lease keepalive", Retry::kAlways, [&](size_t member, grpc::ClientContext& context) {
        auto stream = members_->lease(member).LeaseKeepAlive(&context);
        bool got = false;
        if (stream->Write(request)) {
          stream->WritesDone();
          pb::LeaseKeepAliveResponse r;
          while (stream->Read(&r)) {
            if (!got) response = r;
            got = true;
          }
        }
        grpc::Status status = stream->Finish();
        if (status.ok() && !got) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "keepalive stream ended unanswered");
        }
        return status;
      });
  if (!r) return std::unexpected(r.error());
  if (response.ttl() <= 0) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("etcd: lease keepalive: lease {} not found or expired", lease_id));
  }
  return response.ttl();
}

Result<int64_t> EtcdStore::CompactRevision() {
  // etcd does not report its compact revision; a read at revision r fails with "compacted"
  // exactly when r < compact revision, so search for the first readable one.
  auto current = CurrentRevision();
  if (!current) return std::unexpected(current.error());
  int64_t lo;
  {
    std::lock_guard lock(mu_);
    lo = std::max<int64_t>(1, known_compact_);
  }
  int64_t hi = std::max(lo, *current);
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    auto r = ProbeRevision(mid);
    if (r) {
      hi = mid;
    } else if (r.error().code == ErrorCode::kCompacted) {
      lo = mid + 1;
    } else {
      return std::unexpected(r.error());
    }
  }
  int64_t compact = lo > 1 ? lo : 0;
  std::lock_guard lock(mu_);
  known_compact_ = std::max(known_compact_, compact);
  return compact;
}

Result<std::string> NormalizeEndpoint(std::string_view endpoint) {
  std::string e(endpoint);
  while (!e.empty() && e.back() == '/') e.pop_back();
  if (!e.starts_with("http://") && !e.starts_with("https://")) {
    if (e.find("://") != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("etcd: endpoint \"{}\" must be http:// or https://", endpoint));
    }
    e = "http://" + e;
  }
  std::string_view hostport = std::string_view(e).substr(e.find("://") + 3);
  auto colon = hostport.rfind(':');
  if (hostport.empty() || colon == std::string_view::npos || colon == 0 ||
      colon + 1 == hostport.size() || hostport.find('/') != std::string_view::npos ||
      hostport.substr(colon + 1).find_first_not_of("0123456789") != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("etcd: endpoint \"{}\" is not host:port", endpoint));
  }
  return e;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenEtcdStore(std::vector<std::string> endpoints,
                                             EtcdOptions options) {
  if (endpoints.empty()) return Fail(ErrorCode::kInvalidArgument, "etcd: no endpoints");
  std::vector<std::string> normalized;
  for (const auto& e : endpoints) {
    auto n = NormalizeEndpoint(e);
    if (!n) return std::unexpected(n.error());
    normalized.push_back(std::move(*n));
  }
  auto members = Members::Create(
      std::move(normalized),
      etcd_internal::MembersOptions{.attempt_timeout = options.request_timeout,
                                    .failover_deadline = options.failover_deadline,
                                    .channels_per_member = options.connections_per_member,
                                    .tls = {.ca_file = options.tls.ca_file,
                                            .cert_file = options.tls.cert_file,
                                            .key_file = options.tls.key_file}});
  if (!members) return std::unexpected(members.error());
  auto store = std::make_unique<EtcdStore>(std::move(*members), std::move(options));
  if (auto rev = store->CurrentRevision(); !rev) {
    return std::unexpected(Wrap(rev.error(), "etcd: open"));
  }
  store->StartMirror();
  return store;
}

}  // namespace berth::store
