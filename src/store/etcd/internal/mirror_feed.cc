#include "store/etcd/internal/mirror_feed.h"

#include "core/log.h"
#include "store/etcd/internal/convert.h"

namespace berth::store::etcd_internal {
namespace {
constexpr std::string_view kLog = "store.etcd";
}  // namespace

MirrorFeed::MirrorFeed(std::shared_ptr<Members> members, std::shared_ptr<KvMirror> mirror,
                       MirrorFeedOptions options)
    : members_(std::move(members)),
      mirror_(std::move(mirror)),
      options_(options),
      backoff_(options.retry_initial) {}

void MirrorFeed::Start() {
  std::weak_ptr<MirrorFeed> weak = weak_from_this();
  members_->RunBlocking([weak] {
    if (auto self = weak.lock()) self->Load();
  });
}

void MirrorFeed::Stop() {
  std::shared_ptr<WatchStream> watch;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    watch = std::move(watch_);
  }
  if (watch) watch->Stop();
  mirror_->Invalidate();
}

int MirrorFeed::loads() const {
  std::lock_guard lock(mu_);
  return loads_;
}

void MirrorFeed::RetryLoad() {
  std::chrono::milliseconds delay;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    delay = backoff_;
    backoff_ = std::min(backoff_ * 2, options_.retry_max);
  }
  std::weak_ptr<MirrorFeed> weak = weak_from_this();
  members_->timers().PostAfter(delay, [weak] {
    if (auto self = weak.lock()) self->Start();
  });
}

void MirrorFeed::Load() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
  }
  // The whole keyspace in pages, all at the revision of the first page.
  std::vector<KeyValue> kvs;
  int64_t revision = 0;
  std::string from(1, '\0');
  for (;;) {
    etcdserverpb::RangeRequest request;
    request.set_key(from);
    request.set_range_end(std::string(1, '\0'));
    request.set_limit(options_.page_size);
    request.set_revision(revision);
    etcdserverpb::RangeResponse response;
    auto r = members_->Call("mirror load", Retry::kAlways,
                            [&](size_t member, grpc::ClientContext& context) {
                              return members_->kv(member).Range(&context, request, &response);
                            });
    if (!r) {
      log::Warn(kLog, "mirror: loading the keyspace: {}", r.error().message);
      return RetryLoad();
    }
    if (revision == 0) revision = response.header().revision();
    bool more = response.more();
    RangeResult page = DecodeRange(std::move(response));
    if (!page.kvs.empty()) from = page.kvs.back().key + std::string(1, '\0');
    for (auto& kv : page.kvs) kvs.push_back(std::move(kv));
    if (!more || page.kvs.empty()) break;
  }
  mirror_->Load(std::move(kvs), revision);
  std::weak_ptr<MirrorFeed> weak = weak_from_this();
  std::shared_ptr<KvMirror> mirror = mirror_;
  auto watch = std::make_shared<WatchStream>(
      members_, /*id=*/0,
      WatchStreamOptions{.range = MakeKeyRange("", true, ""),
                         .start_revision = revision + 1,
                         .progress_notify = true,
                         .deliver_inline = true,
                         .retry_initial = options_.retry_initial,
                         .retry_max = options_.retry_max,
                         .on_attempt = options_.on_attempt},
      [mirror, weak](WatchResponse&& r) {
        if (!r.compacted && !r.canceled) return mirror->Apply(r.events);
        log::Warn(kLog, "mirror: the feed's watch ended ({}); loading the keyspace again",
                  r.compacted ? "compacted past it" : r.cancel_reason);
        mirror->Invalidate();
        if (auto self = weak.lock()) self->RetryLoad();
      },
      [mirror](bool connected) { mirror->SetLive(connected); },
      [mirror](int64_t revision) { mirror->Progress(revision); });
  std::shared_ptr<WatchStream> old;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    ++loads_;
    backoff_ = options_.retry_initial;
    old = std::exchange(watch_, watch);
  }
  if (old) old->Stop();
  watch->Start();
  log::Debug(kLog, "mirror: {} keys at revision {}; following from {}", mirror_->size(), revision,
             revision + 1);
}

}  // namespace berth::store::etcd_internal
