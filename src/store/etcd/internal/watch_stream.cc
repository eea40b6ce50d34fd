#include "store/etcd/internal/watch_stream.h"

#include <grpcpp/support/async_stream.h>

#include "core/log.h"

namespace berth::store::etcd_internal {
namespace {
constexpr std::string_view kLog = "store.etcd";
}  // namespace

// One attempt: a bidirectional Watch stream on one member, driven through the members'
// completion queue. Operations: one write at a time (the create request, later
// progress requests), one read at a time, and finish once the reads ended. The attempt deletes
// itself when the last of its operations completed after finish; until the watch hands it
// back (Finish) it never starts finish, so the watch may use it.
class WatchStream::Attempt {
 public:
  Attempt(std::shared_ptr<WatchStream> owner, size_t member)
      : owner_(std::move(owner)), member_(member) {}

  void Begin(etcdserverpb::Watch::Stub& stub, int64_t start_revision) {
    const auto& o = owner_->options_;
    context_.AddMetadata("hasleader", "true");
    // The initial metadata goes out with the create request (StartCall then starts no
    // operation of its own, and its tag never completes).
    context_.set_initial_metadata_corked(true);
    EncodeWatchCreate(o.range, start_revision, o.prev_kv, o.progress_notify, &create_);
    grpc::CompletionQueue* cq = owner_->members_->cq();
    stream_ = stub.PrepareAsyncWatch(&context_, cq);
    std::lock_guard lock(mu_);
    pending_ = 2;
    writing_ = true;
    stream_->StartCall(nullptr);
    stream_->Write(create_, &write_);
    stream_->Read(&response_, &read_);
  }

  // Called by the watch (one at a time, never after Finish).
  void ReadNext() {
    std::lock_guard lock(mu_);
    ++pending_;
    stream_->Read(&response_, &read_);
  }
  void Cancel() { context_.TryCancel(); }
  void AskProgress() {
    std::lock_guard lock(mu_);
    if (writing_ || finishing_) return;  // one write at a time; a request is on its way
    writing_ = true;
    ++pending_;
    progress_.mutable_progress_request();
    stream_->Write(progress_, &write_);
  }
  // The watch is done with this attempt: ask for the stream's status (after cancelling it
  // when it is still open on our side).
  void Finish(bool cancel) {
    if (cancel) context_.TryCancel();
    std::lock_guard lock(mu_);
    finishing_ = true;
    ++pending_;
    stream_->Finish(&status_, &finish_);
  }

  etcdserverpb::WatchResponse& response() { return response_; }
  bool* healthy() { return &healthy_; }

 private:
  enum class Op { kWrite, kRead, kFinish };
  struct Event final : CqEvent {
    Event(Attempt* a, Op o) : attempt(a), op(o) {}
    void Done(bool ok) override { attempt->Completed(op, ok); }
    Attempt* const attempt;
    const Op op;
  };

  void Completed(Op op, bool ok) {
    bool last;
    {
      std::lock_guard lock(mu_);
      if (op == Op::kWrite) writing_ = false;
      if (op == Op::kFinish) finished_ = true;
      last = --pending_ == 0 && finished_;
    }
    if (op == Op::kRead) owner_->Received(this, ok);
    if (op == Op::kFinish) owner_->Ended(status_, healthy_, member_);
    if (last) delete this;
  }

  const std::shared_ptr<WatchStream> owner_;
  const size_t member_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientAsyncReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      stream_;
  etcdserverpb::WatchRequest create_;
  etcdserverpb::WatchRequest progress_;
  etcdserverpb::WatchResponse response_;
  grpc::Status status_;
  bool healthy_ = false;  // the watch was created or delivered something on this attempt
  Event write_{this, Op::kWrite};
  Event read_{this, Op::kRead};
  Event finish_{this, Op::kFinish};
  std::mutex mu_;
  int pending_ = 0;         // guarded by mu_: operations started and not completed
  bool writing_ = false;    // guarded by mu_
  bool finishing_ = false;  // guarded by mu_
  bool finished_ = false;   // guarded by mu_
};

WatchStream::WatchStream(std::shared_ptr<Members> members, int64_t id, WatchStreamOptions options,
                         WatchCallback callback, std::function<void(bool)> on_connected,
                         std::function<void(int64_t)> on_progress)
    : members_(std::move(members)),
      id_(id),
      options_(std::move(options)),
      callback_(std::move(callback)),
      on_connected_(std::move(on_connected)),
      on_progress_(std::move(on_progress)),
      backoff_(options_.retry_initial),
      next_rev_(options_.start_revision) {}

WatchStream::~WatchStream() = default;

void WatchStream::Start() {
  {
    std::lock_guard lock(mu_);
    if (started_ || stopping_) return;
    started_ = true;
    member_ = members_->preferred();
  }
  Connect();
}

void WatchStream::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (active_ != nullptr) active_->Cancel();
  }
  // Waits for a callback in progress on another thread; from inside this watch's own
  // callback the recursive lock returns at once.
  std::lock_guard wait(deliver_mu_);
}

bool WatchStream::Stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

void WatchStream::RequestProgress() {
  std::lock_guard lock(mu_);
  if (active_ != nullptr) active_->AskProgress();
}

void WatchStream::Connect() {
  size_t member;
  Attempt* attempt;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    member = member_;
    attempt = new Attempt(shared_from_this(), member);
    active_ = attempt;
  }
  if (options_.on_attempt) options_.on_attempt(member);
  attempt->Begin(members_->watch(member), next_rev_);
}

void WatchStream::Received(Attempt* attempt, bool ok) {
  if (options_.deliver_inline) return Process(attempt, ok);
  members_->tasks().Post([self = shared_from_this(), attempt, ok] { self->Process(attempt, ok); });
}

void WatchStream::Process(Attempt* attempt, bool ok) {
  Outcome outcome = ok ? Handle(attempt->response(), attempt->healthy()) : Outcome::kReconnect;
  std::lock_guard lock(mu_);
  if (outcome == Outcome::kEnd) stopping_ = true;
  if (ok && outcome == Outcome::kContinue && !stopping_) {
    attempt->ReadNext();
    return;
  }
  active_ = nullptr;
  attempt->Finish(/*cancel=*/ok);  // after this the attempt may delete itself at any time
}

WatchStream::Outcome WatchStream::Handle(etcdserverpb::WatchResponse& r, bool* healthy) {
  const int64_t revision = r.header().revision();
  if (r.created()) {
    *healthy = true;
    if (on_connected_) on_connected_(true);
  }
  if (r.canceled()) {
    WatchResponse out;
    out.revision = revision;
    if (r.compact_revision() > 0) {
      out.compacted = true;
      out.compact_revision = r.compact_revision();
    } else {
      out.canceled = true;
      out.cancel_reason = r.cancel_reason().empty() ? "canceled by etcd" : r.cancel_reason();
    }
    log::Warn(kLog, "watch {}: ended by etcd: {}", id_,
              out.compacted ? "start revision compacted" : out.cancel_reason);
    Deliver(std::move(out));
    return Outcome::kEnd;
  }
  if (r.events_size() == 0) {
    // Created, or a progress notification: every event up to `revision` was sent.
    if (!r.created() && revision >= next_rev_) {
      next_rev_ = revision + 1;
      if (on_progress_) on_progress_(revision);
    }
    return Outcome::kContinue;
  }
  *healthy = true;
  WatchResponse out;
  out.revision = revision;
  out.events.reserve(static_cast<size_t>(r.events_size()));
  for (const auto& e : r.events()) {
    // After a resume etcd starts at next_rev_; anything older was delivered already.
    if (e.kv().mod_revision() < next_rev_) continue;
    out.events.push_back(FromProto(e));
  }
  if (out.events.empty()) return Outcome::kContinue;
  next_rev_ = out.events.back().kv.mod_revision + 1;
  Deliver(std::move(out));
  return Outcome::kContinue;
}

void WatchStream::Deliver(WatchResponse&& response) {
  std::lock_guard lock(deliver_mu_);
  if (Stopping()) return;
  callback_(std::move(response));
}

void WatchStream::Ended(const grpc::Status& status, bool healthy, size_t member) {
  if (on_connected_) on_connected_(false);
  std::chrono::milliseconds delay;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (healthy) backoff_ = options_.retry_initial;
    delay = backoff_;
    backoff_ = std::min(backoff_ * 2, options_.retry_max);
    member_ = (member + 1) % members_->size();
    log::Info(kLog, "watch {}: stream on {} ended ({}); resuming from revision {} on {}", id_,
              members_->endpoint(member), status.error_message(), next_rev_,
              members_->endpoint(member_));
  }
  std::weak_ptr<WatchStream> weak = weak_from_this();
  members_->timers().PostAfter(delay, [weak] {
    if (auto self = weak.lock()) self->Connect();
  });
}

}  // namespace berth::store::etcd_internal
