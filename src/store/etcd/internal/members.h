// Members: the etcd members one store talks to. Each member is reached through gRPC channels
// (HTTP/2 connections on which every call and watch stream is multiplexed); calls go to the
// preferred member and fail over to the next one.
//
// Fail-over: a read (or any call that may be repeated) goes to the next member after any
// transport failure or UNAVAILABLE answer; a write goes to another member only when it
// provably never took effect (etcd_internal::NotProposed: etcd refused it for want of a
// leader before proposing, or gRPC had no connection to send it on). Every call carries
// etcd's `hasleader` metadata, so a member cut off from its cluster refuses at once instead
// of blocking until a timeout.
//
// Also owns the store's helper threads: `tasks()` (watch deliveries), `timers()` (reconnects),
// a small pool for work that blocks (an asynchronous write that must fail over), and the
// completion queue of gRPC's asynchronous calls (watch streams, asynchronous txns) with the
// thread that drains it. (The explicit queue, not gRPC's callback API: gRPC 1.51 backs that
// API with a process-wide queue that it frees twice when stores come and go.)
//
// Private to store/etcd. Thread-safety: every method from any thread.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.h"
#include "store/etcd/internal/task_thread.h"
#include "store/etcd/proto/rpc.grpc.pb.h"

namespace berth::store::etcd_internal {

// An operation started on Members::cq(): its tag is the event, Done runs on the completion
// thread with gRPC's `ok`.
class CqEvent {
 public:
  virtual ~CqEvent() = default;
  virtual void Done(bool ok) = 0;
};

// Whether a failed call may be sent again, to another member.
enum class Retry {
  kAlways,         // reads and calls that may be repeated
  kIfNotProposed,  // writes
};

struct TlsFiles {
  std::string ca_file;    // PEM roots that sign the members' certificates
  std::string cert_file;  // client certificate (PEM), with key_file; both or neither
  std::string key_file;
};

struct MembersOptions {
  // One call's attempt on one member (etcd answers a write it cannot commit within ~7 s
  // with "request timed out"; reads are quick).
  std::chrono::milliseconds attempt_timeout{8000};
  // How long a call keeps failing over between members before it returns kUnavailable: longer
  // than an etcd leader election (~1-3 s), shorter than the timeouts of Berth's own clients
  // (agent 15 s, CLI 30 s), so that they get this clear error rather than their own timeout.
  std::chrono::milliseconds failover_deadline{10000};
  // HTTP/2 keepalive pings: a member that stops answering (frozen, cut off) is declared dead
  // after time + timeout. etcd refuses pings more often than every 5 s.
  std::chrono::milliseconds keepalive_time{6000};
  std::chrono::milliseconds keepalive_timeout{3000};
  // Reconnect backoff of a channel whose member went away.
  std::chrono::milliseconds reconnect_backoff_max{1000};
  // HTTP/2 connections per member; calls spread over them.
  int channels_per_member = 1;
  // Threads for blocking fail-over work of asynchronous calls.
  int blocking_threads = 2;
  TlsFiles tls;  // used for https:// endpoints
};

class Members {
 public:
  // `endpoints`: "http://host:port" or "https://host:port", all of one scheme.
  static Result<std::shared_ptr<Members>> Create(std::vector<std::string> endpoints,
                                                 MembersOptions options);
  ~Members();
  Members(const Members&) = delete;
  Members& operator=(const Members&) = delete;

  size_t size() const { return members_.size(); }
  const std::string& endpoint(size_t member) const { return members_[member].endpoint; }
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  const MembersOptions& options() const { return options_; }
  // The member calls go to now.
  size_t preferred() const { return preferred_.load() % members_.size(); }
  // Moves the preferred member past `failed` (unless another caller already did).
  void MarkFailed(size_t failed);

  etcdserverpb::KV::Stub& kv(size_t member);
  etcdserverpb::Watch::Stub& watch(size_t member);
  etcdserverpb::Lease::Stub& lease(size_t member);
  etcdserverpb::Maintenance::Stub& maintenance(size_t member);

  // Sets the deadline (`timeout` from now; attempt_timeout when zero) and etcd's
  // `hasleader` metadata on a context.
  void Prepare(grpc::ClientContext& context,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;

  // One attempt of a call on `member` with a prepared context; returns its status.
  using Attempt = std::function<grpc::Status(size_t member, grpc::ClientContext& context)>;
  // Runs `attempt`, failing over between members as `retry` allows until it succeeds, fails
  // for good, or failover_deadline passes. `what` names the call in errors.
  Result<void> Call(std::string_view what, Retry retry, const Attempt& attempt);

  // Runs `work` on the blocking pool (dropped after Shutdown).
  void RunBlocking(std::function<void()> work);
  // Watch deliveries (user callbacks: may block briefly, may call the store).
  TaskThread& tasks() { return tasks_; }
  // Timers that must fire even while a callback blocks the delivery thread (reconnects).
  TaskThread& timers() { return timers_; }
  // Where asynchronous operations complete; their tags are CqEvent*. Valid while any owner of
  // these Members lives (an operation's owner must hold one until its tag completed).
  grpc::CompletionQueue* cq() { return completion_->queue.get(); }

  // Stops the helper threads (queued work is dropped). Called by the store's destructor.
  void Shutdown();

 private:
  struct Member {
    std::string endpoint;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv;
    std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> watch;
    std::vector<std::unique_ptr<etcdserverpb::Lease::Stub>> lease;
    std::vector<std::unique_ptr<etcdserverpb::Maintenance::Stub>> maintenance;
    std::atomic<size_t> next{0};
    size_t Pick() { return next.fetch_add(1, std::memory_order_relaxed) % channels.size(); }
  };

  // The completion queue and its thread; shared with the thread, which may outlive Members
  // when the last owner goes away on it.
  struct Completion {
    std::unique_ptr<grpc::CompletionQueue> queue = std::make_unique<grpc::CompletionQueue>();
    std::thread thread;
  };

  Members(std::vector<std::string> endpoints, MembersOptions options);
  void BlockingLoop();

  const std::vector<std::string> endpoints_;
  const MembersOptions options_;
  std::deque<Member> members_;  // fixed after Create
  std::atomic<size_t> preferred_{0};
  TaskThread tasks_{"etcd-deliver"};
  TaskThread timers_{"etcd-timers"};
  std::shared_ptr<Completion> completion_;

  std::mutex blocking_mu_;
  std::condition_variable blocking_cv_;
  std::deque<std::function<void()>> blocking_queue_;  // guarded by blocking_mu_
  bool blocking_stopping_ = false;                    // guarded by blocking_mu_
  std::vector<std::thread> blocking_threads_;
};

}  // namespace berth::store::etcd_internal
