#include "store/etcd/etcd_store.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/json.h"
#include "core/log.h"
#include "store/etcd/internal/codec.h"

namespace berth::store {
namespace {

using etcd_internal::Connection;
using etcd_internal::ConnectionOptions;
using etcd_internal::HttpReply;
using etcd_internal::KeyRange;

constexpr std::string_view kLog = "store.etcd";

// Whether a failed call may be sent again, to another member.
enum class Retry {
  kAlways,     // reads and idempotent calls
  kIfNotSent,  // writes: only when the request is known not to have reached the member
};

// Whether an etcd-level error means "this member could not take the request at all", so
// that another member may (etcd did not propose it).
bool NotProposed(const Error& e) {
  return e.code == ErrorCode::kUnavailable && (e.message.find("no leader") != std::string::npos ||
                                               e.message.find("not capable") != std::string::npos ||
                                               e.message.find("stopped") != std::string::npos);
}

// The members and their connection pools; shared by the store and its watches (a Watcher
// may outlive the store).
class Cluster {
 public:
  Cluster(std::vector<std::string> endpoints, EtcdOptions options)
      : endpoints_(std::move(endpoints)), options_(std::move(options)), idle_(endpoints_.size()) {
    if (!options_.connection_factory) {
      options_.connection_factory = etcd_internal::DefaultConnectionFactory();
    }
  }

  const std::vector<std::string>& endpoints() const { return endpoints_; }
  const EtcdOptions& options() const { return options_; }
  size_t preferred() const { return current_.load() % endpoints_.size(); }

  // Moves the preferred member past `failed` (unless another caller already did).
  void MarkFailed(size_t failed) {
    size_t expected = failed;
    current_.compare_exchange_strong(expected, (failed + 1) % endpoints_.size());
  }

  Result<std::unique_ptr<Connection>> Connect(size_t ep, const ConnectionOptions& co) const {
    return options_.connection_factory(endpoints_[ep], co);
  }

  // POSTs `body` to `path`, failing over between members; the parsed 2xx response body.
  Result<Json> Call(std::string_view path, const Json& body, std::string_view what, Retry retry) {
    const std::string payload = body.dump();
    const auto deadline = std::chrono::steady_clock::now() + options_.failover_deadline;
    Error last(ErrorCode::kUnavailable, "no attempt");
    for (size_t attempt = 1;; ++attempt) {
      size_t ep = preferred();
      auto conn = Acquire(ep);
      if (!conn) {
        last = conn.error();
        MarkFailed(ep);
      } else {
        auto reply = (*conn)->Post(path, payload);
        if (!reply) {
          last = reply.error();
          MarkFailed(ep);
          log::Warn(kLog, "{} on {} failed: {}", what, endpoints_[ep], reply.error().message);
          if (retry == Retry::kIfNotSent && reply.error().code != ErrorCode::kUnavailable) {
            return Fail(ErrorCode::kUnavailable,
                        fmt::format("etcd: {}: connection to {} lost; the outcome is unknown: {}",
                                    what, endpoints_[ep], reply.error().message));
          }
        } else {
          Release(ep, std::move(*conn));
          if (reply->status / 100 == 2) {
            auto parsed = etcd_internal::ParseBody(reply->body, what);
            if (!parsed) return std::unexpected(parsed.error());
            // Streamed calls (lease keepalive) wrap the message: {"result":...} / {"error":...}.
            if (auto it = parsed->find("error"); it != parsed->end() && it->is_object()) {
              return std::unexpected(
                  etcd_internal::ErrorFromResponse(reply->status, reply->body, what));
            }
            if (auto it = parsed->find("result"); it != parsed->end() && it->is_object()) {
              Json inner = std::move(*it);
              return inner;
            }
            return std::move(*parsed);
          }
          Error e = etcd_internal::ErrorFromResponse(reply->status, reply->body, what);
          bool retryable =
              e.code == ErrorCode::kUnavailable && (retry == Retry::kAlways || NotProposed(e));
          if (!retryable) return std::unexpected(e);
          last = e;
          MarkFailed(ep);
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return Fail(ErrorCode::kUnavailable,
                    fmt::format("etcd: {}: no member of [{}] answered: {}", what,
                                fmt::join(endpoints_, ","), last.message));
      }
      if (attempt % endpoints_.size() == 0) {
        // Every member failed once in this round: back off before the next one.
        auto round = attempt / endpoints_.size();
        auto pause = std::min<int64_t>(1000, 50LL << std::min<size_t>(round, 5));
        std::this_thread::sleep_for(std::chrono::milliseconds(pause));
      }
    }
  }

 private:
  Result<std::unique_ptr<Connection>> Acquire(size_t ep) {
    {
      std::lock_guard lock(mu_);
      auto& pool = idle_[ep];
      if (!pool.empty()) {
        auto conn = std::move(pool.back());
        pool.pop_back();
        return conn;
      }
    }
    return Connect(ep, ConnectionOptions{.connect_timeout = options_.connect_timeout,
                                         .io_timeout = options_.request_timeout});
  }

  void Release(size_t ep, std::unique_ptr<Connection> conn) {
    std::lock_guard lock(mu_);
    auto& pool = idle_[ep];
    if (pool.size() < options_.max_idle_connections) pool.push_back(std::move(conn));
  }

  const std::vector<std::string> endpoints_;
  EtcdOptions options_;
  std::atomic<size_t> current_{0};
  std::mutex mu_;
  std::vector<std::vector<std::unique_ptr<Connection>>> idle_;  // guarded by mu_
};

// One watch: a thread that keeps a /v3/watch stream open, re-creating it on another member
// from next_rev_ after any disconnect.
class WatchStream : public std::enable_shared_from_this<WatchStream> {
 public:
  WatchStream(std::shared_ptr<Cluster> cluster, int64_t id, KeyRange range, bool prev_kv,
              int64_t start_revision, WatchCallback callback)
      : cluster_(std::move(cluster)),
        id_(id),
        range_(std::move(range)),
        prev_kv_(prev_kv),
        next_rev_(start_revision),
        callback_(std::move(callback)) {}

  ~WatchStream() {
    // Only reached on the watch thread itself (it holds a reference while running) or after
    // Stop() joined it.
    if (thread_.joinable()) thread_.detach();
  }

  int64_t id() const { return id_; }

  void Start() {
    std::lock_guard lock(mu_);
    thread_ = std::thread([self = shared_from_this()] { self->Run(); });
    thread_id_ = thread_.get_id();
  }

  // Ends the watch: no callback runs after this returns (unless called from a callback of
  // this watch, in which case none runs after that callback).
  void Stop() {
    std::thread::id runner;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (active_ != nullptr) active_->Shutdown();
      cv_.notify_all();
      runner = thread_id_;
    }
    std::lock_guard join_lock(join_mu_);
    if (!thread_.joinable()) return;
    if (std::this_thread::get_id() == runner) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

 private:
  enum class Outcome { kContinue, kEnd, kReconnect };

  bool Stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }

  void Deliver(WatchResponse&& response) {
    if (Stopping()) return;
    callback_(std::move(response));
  }

  void Run() {
    const auto& opts = cluster_->options();
    const size_t n = cluster_->endpoints().size();
    size_t ep = cluster_->preferred();
    auto backoff = opts.watch_retry_initial;
    while (!Stopping()) {
      bool healthy = false;
      Outcome outcome = Outcome::kReconnect;
      auto conn = cluster_->Connect(ep, ConnectionOptions{.connect_timeout = opts.connect_timeout,
                                                          .io_timeout = opts.watch_idle_timeout});
      if (!conn) {
        log::Debug(kLog, "watch {}: connect {}: {}", id_, cluster_->endpoints()[ep],
                   conn.error().message);
      } else {
        {
          std::lock_guard lock(mu_);
          if (stopping_) return;
          active_ = conn->get();
        }
        outcome = Stream(**conn, &healthy);
        {
          std::lock_guard lock(mu_);
          active_ = nullptr;
        }
        conn->reset();
      }
      if (outcome == Outcome::kEnd) return;
      if (Stopping()) return;
      if (healthy) backoff = opts.watch_retry_initial;
      log::Info(kLog, "watch {}: stream on {} ended; resuming from revision {} on {}", id_,
                cluster_->endpoints()[ep], next_rev_, cluster_->endpoints()[(ep + 1) % n]);
      ep = (ep + 1) % n;
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, backoff, [&] { return stopping_; });
      backoff = std::min(backoff * 2, opts.watch_retry_max);
    }
  }

  Outcome Stream(Connection& conn, bool* healthy) {
    Json body = etcd_internal::EncodeWatchCreate(range_, next_rev_, prev_kv_,
                                                 /*progress_notify=*/false);
    int status = 0;
    std::string buffer;
    Outcome outcome = Outcome::kReconnect;
    auto result = conn.PostStream(
        "/v3/watch", body.dump(), [&](int s) { status = s; },
        [&](std::string_view data) {
          buffer.append(data);
          if (status != 200) return buffer.size() < 64 * 1024;  // collect the error body
          size_t newline;
          while ((newline = buffer.find('\n')) != std::string::npos) {
            std::string line = buffer.substr(0, newline);
            buffer.erase(0, newline + 1);
            if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
            auto message = etcd_internal::ParseBody(line, "watch");
            if (!message) {
              log::Warn(kLog, "watch {}: {}", id_, message.error().message);
              outcome = Outcome::kReconnect;
              return false;
            }
            outcome = Handle(*message, healthy);
            if (outcome != Outcome::kContinue) return false;
          }
          return !Stopping();
        });
    if (status != 0 && status != 200) {
      Error e = etcd_internal::ErrorFromResponse(status, buffer, "watch");
      log::Warn(kLog, "watch {}: {}", id_, e.message);
      if (e.code == ErrorCode::kCompacted) {
        WatchResponse r;
        r.compacted = true;
        Deliver(std::move(r));
        return Outcome::kEnd;
      }
      return Outcome::kReconnect;
    }
    if (!result) log::Debug(kLog, "watch {}: stream: {}", id_, result.error().message);
    return outcome == Outcome::kEnd ? Outcome::kEnd : Outcome::kReconnect;
  }

  Outcome Handle(const Json& message, bool* healthy) {
    if (auto it = message.find("error"); it != message.end()) {
      log::Warn(kLog, "watch {}: stream error: {}", id_, it->dump());
      return Outcome::kReconnect;
    }
    auto it = message.find("result");
    if (it == message.end() || !it->is_object()) return Outcome::kReconnect;
    const Json& result = *it;
    int64_t revision = etcd_internal::HeaderRevision(result);
    if (result.value("created", false)) *healthy = true;
    if (result.value("canceled", false)) {
      WatchResponse r;
      r.revision = revision;
      int64_t compact = etcd_internal::JsonInt(result, "compact_revision");
      if (compact > 0) {
        r.compacted = true;
        r.compact_revision = compact;
      } else {
        r.canceled = true;
        r.cancel_reason = result.value("cancel_reason", std::string("canceled by etcd"));
      }
      Deliver(std::move(r));
      return Outcome::kEnd;
    }
    auto events = result.find("events");
    if (events == result.end() || !events->is_array() || events->empty()) {
      return Outcome::kContinue;  // created, or a progress notification
    }
    *healthy = true;
    WatchResponse r;
    r.revision = revision;
    for (const auto& e : *events) {
      auto event = etcd_internal::ParseEvent(e);
      if (!event) {
        log::Warn(kLog, "watch {}: {}", id_, event.error().message);
        return Outcome::kReconnect;
      }
      // After a resume etcd starts at next_rev_; anything older was delivered already.
      if (event->kv.mod_revision < next_rev_) continue;
      r.events.push_back(std::move(*event));
    }
    if (r.events.empty()) return Outcome::kContinue;
    next_rev_ = r.events.back().kv.mod_revision + 1;
    Deliver(std::move(r));
    return Outcome::kContinue;
  }

  const std::shared_ptr<Cluster> cluster_;
  const int64_t id_;
  const KeyRange range_;
  const bool prev_kv_;
  int64_t next_rev_;  // touched only by the watch thread (and before Start)
  WatchCallback callback_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;         // guarded by mu_
  Connection* active_ = nullptr;  // guarded by mu_
  std::thread::id thread_id_;     // guarded by mu_
  std::mutex join_mu_;
  std::thread thread_;  // guarded by join_mu_ after Start
};

class EtcdWatcher final : public Watcher {
 public:
  explicit EtcdWatcher(std::shared_ptr<WatchStream> stream) : stream_(std::move(stream)) {}
  ~EtcdWatcher() override { stream_->Stop(); }
  void Cancel() override { stream_->Stop(); }
  int64_t id() const override { return stream_->id(); }

 private:
  std::shared_ptr<WatchStream> stream_;
};

class EtcdStore final : public Store {
 public:
  explicit EtcdStore(std::shared_ptr<Cluster> cluster) : cluster_(std::move(cluster)) {}

  ~EtcdStore() override {
    std::vector<std::weak_ptr<WatchStream>> watches;
    {
      std::lock_guard lock(mu_);
      watches.swap(watches_);
    }
    for (auto& w : watches) {
      if (auto s = w.lock()) s->Stop();
    }
  }

  Result<RangeResult> Get(std::string_view key, const RangeOptions& options) override {
    if (key.empty() && !options.prefix && options.range_end.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "etcd: get: key is empty");
    }
    auto r =
        cluster_->Call("/v3/kv/range", etcd_internal::EncodeRange(key, options, options.prefix),
                       "range", Retry::kAlways);
    if (!r) return std::unexpected(r.error());
    return etcd_internal::DecodeRange(*r);
  }

  Result<PutResult> Put(std::string_view key, std::string_view value,
                        const PutOptions& options) override {
    if (auto ok = ValidateKey(key); !ok) return std::unexpected(Wrap(ok.error(), "etcd: put"));
    if (value.size() > kMaxValueBytes) {
      return Fail(ErrorCode::kPayloadTooLarge,
                  fmt::format("etcd: put: value of {} bytes exceeds the limit of {}", value.size(),
                              kMaxValueBytes));
    }
    auto r = cluster_->Call("/v3/kv/put", etcd_internal::EncodePut(key, value, options), "put",
                            Retry::kIfNotSent);
    if (!r) return std::unexpected(r.error());
    return etcd_internal::DecodePut(*r);
  }

  Result<DeleteResult> Delete(std::string_view key, const DeleteOptions& options) override {
    if (key.empty() && !options.prefix && options.range_end.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "etcd: delete: key is empty");
    }
    auto r = cluster_->Call("/v3/kv/deleterange", etcd_internal::EncodeDelete(key, options),
                            "deleterange", Retry::kIfNotSent);
    if (!r) return std::unexpected(r.error());
    return etcd_internal::DecodeDelete(*r);
  }

  Result<TxnResult> Txn(const TxnRequest& request) override {
    bool writes = false;
    for (const auto* ops : {&request.success, &request.failure}) {
      for (const auto& op : *ops) {
        if (op.type == TxnOp::Type::kPut) {
          writes = true;
          if (auto ok = ValidateKey(op.key); !ok) {
            return std::unexpected(Wrap(ok.error(), "etcd: txn put"));
          }
          if (op.value.size() > kMaxValueBytes) {
            return Fail(ErrorCode::kPayloadTooLarge, "etcd: txn put: value too large");
          }
        } else if (op.type == TxnOp::Type::kDelete) {
          writes = true;
        }
      }
    }
    auto r = cluster_->Call("/v3/kv/txn", etcd_internal::EncodeTxn(request), "txn",
                            writes ? Retry::kIfNotSent : Retry::kAlways);
    if (!r) return std::unexpected(r.error());
    return etcd_internal::DecodeTxn(*r, request);
  }

  Result<std::unique_ptr<Watcher>> Watch(std::string_view key, const WatchOptions& options,
                                         WatchCallback callback) override {
    if (key.empty() && !options.prefix && options.range_end.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "etcd: watch: key is empty");
    }
    if (!callback) return Fail(ErrorCode::kInvalidArgument, "etcd: watch: no callback");
    int64_t start = options.start_revision;
    if (start <= 0) {
      // "From now" becomes a concrete revision before Watch returns, so a write that
      // follows the call is always seen, however late the stream is established.
      auto current = CurrentRevision();
      if (!current) return std::unexpected(Wrap(current.error(), "etcd: watch"));
      start = *current + 1;
    }
    auto stream = std::make_shared<WatchStream>(
        cluster_, next_watch_id_.fetch_add(1) + 1,
        etcd_internal::MakeKeyRange(key, options.prefix, options.range_end), options.prev_kv, start,
        std::move(callback));
    {
      std::lock_guard lock(mu_);
      std::erase_if(watches_, [](const auto& w) { return w.expired(); });
      watches_.push_back(stream);
    }
    stream->Start();
    return std::make_unique<EtcdWatcher>(std::move(stream));
  }

  Result<int64_t> GrantLease(int64_t ttl_seconds, int64_t id) override {
    if (ttl_seconds < 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("etcd: lease grant: TTL {} is below 1 second", ttl_seconds));
    }
    Json body = {{"TTL", ttl_seconds}};
    if (id != 0) body["ID"] = id;
    auto r = cluster_->Call("/v3/lease/grant", body, "lease grant", Retry::kIfNotSent);
    if (!r) return std::unexpected(r.error());
    if (auto it = r->find("error"); it != r->end() && it->is_string() && !it->empty()) {
      return std::unexpected(
          etcd_internal::ErrorFromGrpc(0, it->get<std::string>(), "lease grant"));
    }
    int64_t granted = etcd_internal::JsonInt(*r, "ID");
    if (granted == 0) return Fail(ErrorCode::kInternal, "etcd: lease grant: no ID in response");
    return granted;
  }

  Result<int64_t> KeepAlive(int64_t lease_id) override {
    auto r = cluster_->Call("/v3/lease/keepalive", Json{{"ID", lease_id}}, "lease keepalive",
                            Retry::kAlways);
    if (!r) return std::unexpected(r.error());
    int64_t ttl = etcd_internal::JsonInt(*r, "TTL");
    if (ttl <= 0) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("etcd: lease keepalive: lease {} not found or expired", lease_id));
    }
    return ttl;
  }

  Result<void> RevokeLease(int64_t lease_id) override {
    auto r = cluster_->Call("/v3/lease/revoke", Json{{"ID", lease_id}}, "lease revoke",
                            Retry::kIfNotSent);
    if (!r) return std::unexpected(r.error());
    return {};
  }

  Result<LeaseInfo> LeaseTimeToLive(int64_t lease_id, bool with_keys) override {
    Json body = {{"ID", lease_id}};
    if (with_keys) body["keys"] = true;
    auto r = cluster_->Call("/v3/lease/timetolive", body, "lease timetolive", Retry::kAlways);
    if (!r) return std::unexpected(r.error());
    LeaseInfo info;
    info.id = lease_id;
    info.ttl = etcd_internal::JsonInt(*r, "TTL");
    info.granted_ttl = etcd_internal::JsonInt(*r, "grantedTTL");
    if (info.ttl <= 0 && info.granted_ttl == 0) info.ttl = -1;
    if (auto it = r->find("keys"); it != r->end() && it->is_array()) {
      for (const auto& k : *it) {
        auto key = k.is_string() ? etcd_internal::Base64Decode(k.get<std::string>())
                                 : std::optional<std::string>();
        if (!key) return Fail(ErrorCode::kInternal, "etcd: lease timetolive: bad key");
        info.keys.push_back(std::move(*key));
      }
      std::sort(info.keys.begin(), info.keys.end());
    }
    return info;
  }

  Result<std::vector<int64_t>> Leases() override {
    auto r = cluster_->Call("/v3/lease/leases", Json::object(), "lease leases", Retry::kAlways);
    if (!r) return std::unexpected(r.error());
    std::vector<int64_t> ids;
    if (auto it = r->find("leases"); it != r->end() && it->is_array()) {
      for (const auto& l : *it) ids.push_back(etcd_internal::JsonInt(l, "ID"));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  Result<void> Compact(int64_t revision) override {
    if (revision < 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("etcd: compact: revision {} is below 1", revision));
    }
    auto r = cluster_->Call("/v3/kv/compaction", Json{{"revision", revision}, {"physical", true}},
                            "compaction", Retry::kIfNotSent);
    if (!r) return std::unexpected(r.error());
    std::lock_guard lock(mu_);
    known_compact_ = std::max(known_compact_, revision);
    return {};
  }

  Result<int64_t> CurrentRevision() override {
    // A range over one key that nobody writes ("\0") returns just the header.
    auto r = cluster_->Call("/v3/kv/range", Json{{"key", "AA=="}, {"count_only", true}}, "range",
                            Retry::kAlways);
    if (!r) return std::unexpected(r.error());
    return etcd_internal::HeaderRevision(*r);
  }

  Result<int64_t> CompactRevision() override {
    // etcd does not report its compact revision; a read at revision r fails with
    // "compacted" exactly when r < compact revision, so search for the first readable one.
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
      auto r = cluster_->Call("/v3/kv/range",
                              Json{{"key", "AA=="}, {"count_only", true}, {"revision", mid}},
                              "range", Retry::kAlways);
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

  std::string_view backend() const override { return "etcd"; }

 private:
  const std::shared_ptr<Cluster> cluster_;
  std::atomic<int64_t> next_watch_id_{0};
  std::mutex mu_;
  std::vector<std::weak_ptr<WatchStream>> watches_;  // guarded by mu_
  int64_t known_compact_ = 0;                        // guarded by mu_
};

Result<std::string> NormalizeEndpoint(std::string_view endpoint) {
  std::string e(endpoint);
  while (!e.empty() && e.back() == '/') e.pop_back();
  if (e.starts_with("https://")) {
    return Fail(ErrorCode::kInvalidArgument,
                "etcd: endpoint " + e + ": TLS to etcd is not supported yet");
  }
  if (!e.starts_with("http://")) e = "http://" + e;
  std::string_view hostport = std::string_view(e).substr(7);
  auto colon = hostport.rfind(':');
  if (hostport.empty() || colon == std::string_view::npos || colon + 1 == hostport.size() ||
      hostport.find('/') != std::string_view::npos) {
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
  auto cluster = std::make_shared<Cluster>(std::move(normalized), std::move(options));
  auto store = std::make_unique<EtcdStore>(cluster);
  if (auto rev = store->CurrentRevision(); !rev) {
    return std::unexpected(Wrap(rev.error(), "etcd: open"));
  }
  return store;
}

}  // namespace berth::store
