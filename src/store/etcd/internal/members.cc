#include "store/etcd/internal/members.h"

#include <absl/synchronization/mutex.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include "core/log.h"
#include "store/etcd/internal/convert.h"

namespace berth::store::etcd_internal {
namespace {

constexpr std::string_view kLog = "store.etcd";

Result<std::string> ReadPem(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("etcd: cannot read the {} file {}", what, path));
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (out.str().find("-----BEGIN") == std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("etcd: the {} file {} holds no PEM block", what, path));
  }
  return out.str();
}

Result<std::shared_ptr<grpc::ChannelCredentials>> Credentials(bool tls, const TlsFiles& files) {
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!files.ca_file.empty()) {
    auto ca = ReadPem(files.ca_file, "CA");
    if (!ca) return std::unexpected(ca.error());
    ssl.pem_root_certs = std::move(*ca);
  }
  if (files.cert_file.empty() != files.key_file.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "etcd: a client certificate needs both a certificate and a key file");
  }
  if (!files.cert_file.empty()) {
    auto cert = ReadPem(files.cert_file, "client certificate");
    if (!cert) return std::unexpected(cert.error());
    auto key = ReadPem(files.key_file, "client key");
    if (!key) return std::unexpected(key.error());
    ssl.pem_cert_chain = std::move(*cert);
    ssl.pem_private_key = std::move(*key);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

Members::Members(std::vector<std::string> endpoints, MembersOptions options)
    : endpoints_(std::move(endpoints)), options_(std::move(options)) {
  completion_ = std::make_shared<Completion>();
  completion_->thread = std::thread([c = completion_] {
    void* tag = nullptr;
    bool ok = false;
    while (c->queue->Next(&tag, &ok)) static_cast<CqEvent*>(tag)->Done(ok);
  });
  pthread_setname_np(completion_->thread.native_handle(), "etcd-cq");
  for (int i = 0; i < std::max(1, options_.blocking_threads); ++i) {
    blocking_threads_.emplace_back([this] { BlockingLoop(); });
    pthread_setname_np(blocking_threads_.back().native_handle(), "etcd-blocking");
  }
}

Members::~Members() {
  Shutdown();
  // Every operation on the queue has completed: their owners held these Members.
  completion_->queue->Shutdown();
  if (completion_->thread.get_id() == std::this_thread::get_id()) {
    completion_->thread.detach();  // it drains nothing more and exits, holding the queue
  } else {
    completion_->thread.join();
  }
}

Result<std::shared_ptr<Members>> Members::Create(std::vector<std::string> endpoints,
                                                 MembersOptions options) {
  // Debian builds Abseil with its debug checks, so every absl::Mutex that gRPC takes also
  // records its lock order in one process-wide graph under one global lock (deadlock
  // detection): measurable on every call. gRPC itself is tested without it.
  static std::once_flag quiet_abseil;
  std::call_once(quiet_abseil,
                 [] { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); });
  if (endpoints.empty()) return Fail(ErrorCode::kInvalidArgument, "etcd: no endpoints");
  bool tls = endpoints[0].starts_with("https://");
  for (const auto& e : endpoints) {
    if (e.starts_with("https://") != tls) {
      return Fail(
          ErrorCode::kInvalidArgument,
          fmt::format("etcd: endpoints [{}] mix http:// and https://", fmt::join(endpoints, ",")));
    }
  }
  auto creds = Credentials(tls, options.tls);
  if (!creds) return std::unexpected(creds.error());
  std::shared_ptr<Members> members(new Members(endpoints, options));
  const int per_member = std::max(1, options.channels_per_member);
  for (const auto& e : endpoints) {
    Member& m = members->members_.emplace_back();
    m.endpoint = e;
    std::string target = e.substr(e.find("://") + 3);
    for (int c = 0; c < per_member; ++c) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive_time.count()));
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                  static_cast<int>(options.keepalive_timeout.count()));
      args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                  static_cast<int>(options.reconnect_backoff_max.count()));
      args.SetMaxReceiveMessageSize(-1);
      args.SetMaxSendMessageSize(4 << 20);
      // A connection of its own per channel (gRPC would otherwise share one per target).
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("berth.channel", c);
      auto channel = grpc::CreateCustomChannel(target, *creds, args);
      m.kv.push_back(etcdserverpb::KV::NewStub(channel));
      m.watch.push_back(etcdserverpb::Watch::NewStub(channel));
      m.lease.push_back(etcdserverpb::Lease::NewStub(channel));
      m.maintenance.push_back(etcdserverpb::Maintenance::NewStub(channel));
      m.channels.push_back(std::move(channel));
    }
  }
  return members;
}

void Members::MarkFailed(size_t failed) {
  size_t expected = failed;
  preferred_.compare_exchange_strong(expected, (failed + 1) % members_.size());
}

etcdserverpb::KV::Stub& Members::kv(size_t member) {
  auto& m = members_[member];
  return *m.kv[m.Pick()];
}
etcdserverpb::Watch::Stub& Members::watch(size_t member) {
  auto& m = members_[member];
  return *m.watch[m.Pick()];
}
etcdserverpb::Lease::Stub& Members::lease(size_t member) {
  auto& m = members_[member];
  return *m.lease[m.Pick()];
}
etcdserverpb::Maintenance::Stub& Members::maintenance(size_t member) {
  auto& m = members_[member];
  return *m.maintenance[m.Pick()];
}

void Members::Prepare(grpc::ClientContext& context, std::chrono::milliseconds timeout) const {
  if (timeout.count() <= 0) timeout = options_.attempt_timeout;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  context.AddMetadata("hasleader", "true");
}

Result<void> Members::Call(std::string_view what, Retry retry, const Attempt& attempt) {
  const auto deadline = std::chrono::steady_clock::now() + options_.failover_deadline;
  Error last(ErrorCode::kUnavailable, "no attempt");
  for (size_t round_attempt = 1;; ++round_attempt) {
    size_t member = preferred();
    grpc::ClientContext context;
    // No attempt runs past the call's deadline (much): a client waiting for the answer gets
    // the clear error below rather than its own timeout.
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    Prepare(context,
            std::clamp(remaining, std::chrono::milliseconds(200), options_.attempt_timeout));
    grpc::Status status = attempt(member, context);
    if (status.ok()) return {};
    Error e = ErrorFromStatus(status, what);
    bool transient = e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded;
    if (!transient) return std::unexpected(e);
    MarkFailed(member);
    log::Warn(kLog, "{} on {} failed: {}", what, endpoint(member), status.error_message());
    if (retry == Retry::kIfNotProposed && !NotProposed(status)) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("etcd: {}: {} did not answer and the outcome is unknown (the write "
                              "may or may not have been applied): {}",
                              what, endpoint(member), status.error_message()));
    }
    last = e;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("etcd: {}: no member of [{}] could serve it within {} s: {}", what,
                              fmt::join(endpoints_, ","), options_.failover_deadline.count() / 1000,
                              last.message));
    }
    if (round_attempt % members_.size() == 0) {
      // Every member failed once in this round: back off before the next one.
      auto round = round_attempt / members_.size();
      auto pause = std::min<int64_t>(1000, 50LL << std::min<size_t>(round, 5));
      std::this_thread::sleep_for(std::chrono::milliseconds(pause));
    }
  }
}

void Members::RunBlocking(std::function<void()> work) {
  std::lock_guard lock(blocking_mu_);
  if (blocking_stopping_) return;
  blocking_queue_.push_back(std::move(work));
  blocking_cv_.notify_one();
}

void Members::BlockingLoop() {
  std::unique_lock lock(blocking_mu_);
  for (;;) {
    blocking_cv_.wait(lock, [&] { return blocking_stopping_ || !blocking_queue_.empty(); });
    if (blocking_stopping_) return;
    auto work = std::move(blocking_queue_.front());
    blocking_queue_.pop_front();
    lock.unlock();
    work();
    work = nullptr;
    lock.lock();
  }
}

void Members::Shutdown() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(blocking_mu_);
    blocking_stopping_ = true;
    dropped.swap(blocking_queue_);
    blocking_cv_.notify_all();
  }
  dropped.clear();
  for (auto& t : blocking_threads_) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else {
      t.join();
    }
  }
  tasks_.Stop();
  timers_.Stop();
}

}  // namespace berth::store::etcd_internal
