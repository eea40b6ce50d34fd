#include "store/etcd/etcd_store.h"

#include <fmt/core.h>
#include <grpcpp/support/async_unary_call.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "core/log.h"
#include "store/async_txn.h"
#include "store/etcd/internal/convert.h"
#include "store/etcd/internal/kv_mirror.h"
#include "store/etcd/internal/members.h"
#include "store/etcd/internal/mirror_feed.h"
#include "store/etcd/internal/revision_fence.h"
#include "store/etcd/internal/watch_stream.h"

namespace berth::store {
namespace {

namespace pb = ::etcdserverpb;
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

class EtcdStore;

// One asynchronous Txn in flight: what gRPC writes into and reads from until it completes.
struct AsyncTxnCall final : etcd_internal::CqEvent {
  void Done(bool ok) override;
  EtcdStore* store = nullptr;
  grpc::ClientContext context;
  pb::TxnRequest request;
  pb::TxnResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::TxnResponse>> reader;
  TxnRequest txn;
  bool writes = false;
  size_t member = 0;
  std::function<void(Result<TxnResult>)> done;
};

class EtcdStore final : public Store, public AsyncTxnStore {
 public:
  EtcdStore(std::shared_ptr<Members> members, EtcdOptions options)
      : members_(std::move(members)),
        options_(std::move(options)),
        fence_([this] { return FetchRevision(); }) {}

  ~EtcdStore() override {
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
    mirror_ = std::make_shared<KvMirror>();
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
    if (options.revision == 0 && mirror_ != nullptr && mirror_->ready()) {
      if (options.serializable) {
        if (auto r = mirror_->Read(key, options)) return std::move(*r);
      } else {
        auto fence = fence_.Fetch();
        if (!fence) return std::unexpected(Wrap(fence.error(), "etcd: get"));
        auto deadline = std::chrono::steady_clock::now() + options_.mirror_wait;
        if (mirror_->WaitFor(*fence, deadline)) {
          if (auto r = mirror_->Read(key, options)) return std::move(*r);
        }
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
    return etcd_internal::DecodeDelete(response);
  }

  Result<TxnResult> Txn(const TxnRequest& txn) override {
    bool writes = false;
    if (auto ok = etcd_internal::ValidateTxn(txn, &writes); !ok) return std::unexpected(ok.error());
    pb::TxnRequest request;
    etcd_internal::EncodeTxn(txn, &request);
    pb::TxnResponse response;
    auto r = members_->Call("txn", writes ? Retry::kIfNotProposed : Retry::kAlways,
                            [&](size_t member, grpc::ClientContext& context) {
                              return members_->kv(member).Txn(&context, request, &response);
                            });
    if (!r) return std::unexpected(r.error());
    return etcd_internal::DecodeTxn(std::move(response), txn);
  }

  void TxnAsync(TxnRequest txn, std::function<void(Result<TxnResult>)> done) override;
  // The completion of an asynchronous txn, on the completion thread.
  void FinishAsync(AsyncTxnCall* call);

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
  Result<int64_t> CurrentRevision() override { return fence_.Fetch(); }

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
    return etcd_internal::DecodeRange(std::move(response));
  }

  // The revision of a linearizable read of one key nobody writes ("\0").
  Result<int64_t> FetchRevision() {
    auto r = GetFromEtcd(std::string_view("\0", 1), RangeOptions{.count_only = true});
    if (!r) return std::unexpected(r.error());
    return r->revision;
  }

  // A count-only read at `revision`: ok, kCompacted below the compact revision.
  Result<void> ProbeRevision(int64_t revision) {
    auto r = GetFromEtcd(std::string_view("\0", 1),
                         RangeOptions{.revision = revision, .count_only = true});
    if (!r) return std::unexpected(r.error());
    return {};
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
  std::mutex mu_;
  std::vector<std::weak_ptr<WatchStream>> watches_;  // guarded by mu_
  int64_t known_compact_ = 0;                        // guarded by mu_
  std::mutex async_mu_;
  std::condition_variable async_cv_;
  int64_t async_in_flight_ = 0;  // guarded by async_mu_
};

void EtcdStore::TxnAsync(TxnRequest txn, std::function<void(Result<TxnResult>)> done) {
  auto call = std::make_unique<AsyncTxnCall>();
  if (auto ok = etcd_internal::ValidateTxn(txn, &call->writes); !ok) {
    return done(std::unexpected(ok.error()));
  }
  etcd_internal::EncodeTxn(txn, &call->request);
  call->txn = std::move(txn);
  call->done = std::move(done);
  call->member = members_->preferred();
  members_->Prepare(call->context);
  {
    std::lock_guard lock(async_mu_);
    ++async_in_flight_;
  }
  call->store = this;
  AsyncTxnCall* raw = call.release();
  raw->reader = members_->kv(raw->member).AsyncTxn(&raw->context, raw->request, members_->cq());
  raw->reader->Finish(&raw->response, &raw->status, raw);
}

void AsyncTxnCall::Done(bool) { store->FinishAsync(this); }

void EtcdStore::FinishAsync(AsyncTxnCall* raw) {
  std::unique_ptr<AsyncTxnCall> call(raw);
  const grpc::Status& status = call->status;
  if (status.ok()) {
    call->done(etcd_internal::DecodeTxn(std::move(call->response), call->txn));
    return EndAsync();
  }
  Error e = etcd_internal::ErrorFromStatus(status, "txn");
  bool transient = e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded;
  bool may_retry = transient && (!call->writes || etcd_internal::NotProposed(status));
  if (!may_retry) {
    if (transient) {
      e = Error(ErrorCode::kUnavailable,
                fmt::format("etcd: txn: {} did not answer and the outcome is unknown (the write "
                            "may or may not have been applied): {}",
                            members_->endpoint(call->member), status.error_message()));
    }
    call->done(std::unexpected(std::move(e)));
    return EndAsync();
  }
  // Another member may take it: fail over on a thread that may wait.
  members_->MarkFailed(call->member);
  std::shared_ptr<AsyncTxnCall> shared(std::move(call));
  members_->RunBlocking([this, shared] {
    shared->done(Txn(shared->txn));
    EndAsync();
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
      std::move(callback));
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
