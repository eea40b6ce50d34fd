// The configuration center's delivery endpoints (declared in config_endpoints.h), over
// config::DeliveryHub: a multiplexed stream of many items, a blocking query on one, and the
// consumers' acknowledgements. Decision 0014 explains the protocol.
#include <fmt/core.h>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <set>

#include "api/config_endpoints.h"
#include "api/line_stream.h"
#include "core/input.h"
#include "core/try.h"
#include "core/units.h"

namespace berth::api {
namespace {

using security::Role;

constexpr size_t kMaxWatches = 10'000;
constexpr auto kKeepAliveEvery = std::chrono::seconds(5);
constexpr auto kDefaultWait = std::chrono::minutes(5);
constexpr auto kMaxWait = std::chrono::minutes(10);

Json DeliveryJson(const config::Delivery& d, const config::VersionContent* c, bool with_content) {
  Json j{{"watch_id", d.watch},
         {"type", d.deleted ? "deleted" : "change"},
         {"namespace", d.ns},
         {"name", d.name},
         {"revision", d.revision}};
  if (d.deleted) return j;
  j["seq"] = d.seq;
  j["version"] = d.version;
  if (d.gray) j["gray"] = true;
  if (d.resync) j["resync"] = true;
  if (c != nullptr) {
    j["format"] = config::FormatName(c->version.format);
    j["sha256"] = c->version.sha256;
    j["size"] = c->version.size;
    if (with_content) j["content"] = c->content;
  }
  return j;
}

struct WatchRequest {
  std::vector<config::DeliveryWatch> watches;
  config::Consumer consumer;
  bool content = true;
};

Result<config::DeliveryWatch> ReadWatch(const input::Node& n) {
  config::DeliveryWatch w;
  input::Object o(n);
  o.Required("namespace", w.ns, input::NonEmptyString);
  o.Required("name", w.name, input::NonEmptyString);
  o.Optional("revision", w.from_revision, input::Int(0, INT64_MAX));
  BERTH_TRY(o.Done());
  return w;
}

Result<WatchRequest> ReadWatchRequest(const Call& call) {
  auto doc = BERTH_TRY(call.ReadBody());
  WatchRequest r;
  input::Object o(doc.root());
  o.Required("watches", r.watches, input::ListOf(ReadWatch, kMaxWatches));
  o.Optional("instance", r.consumer.instance);
  o.Optional("labels", r.consumer.labels, input::MapOf(input::String));
  o.Optional("content", r.content);
  BERTH_TRY(o.Done());
  if (r.watches.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "request body: watches must list at least one item");
  }
  return r;
}

// One stream: deliveries are rendered and written in order on the stream's strand, off the
// hub's lock (content is read there, once per version thanks to the hub's cache).
struct WatchStream {
  WatchStream(asio::io_context& io, config::DeliveryHub& hub, bool content)
      : strand(asio::make_strand(io)), hub(hub), content(content) {}
  asio::strand<asio::io_context::executor_type> strand;
  config::DeliveryHub& hub;
  bool content;
  std::shared_ptr<LineStream> stream;
  std::unique_ptr<config::DeliverySubscription> sub;  // reset on the strand
  std::vector<config::Delivery> pending;              // on the strand, until `stream` is set
  std::atomic<int64_t> revision{0};                   // the newest revision written

  void Write(std::vector<config::Delivery> batch) {
    for (const auto& d : batch) {
      std::shared_ptr<const config::VersionContent> c;
      if (!d.deleted) {
        auto got = hub.Content(d.ns, d.name, d.version);
        if (!got) {
          stream->EndWithError(got.error());
          return;
        }
        c = std::move(*got);
      }
      if (d.revision > revision) revision = d.revision;
      if (!stream->Write(DeliveryJson(d, c.get(), content))) return;
    }
  }
};

void HandleWatchStream(std::shared_ptr<Call> call, config::DeliveryHub& hub, asio::io_context& io) {
  auto req = ReadWatchRequest(*call);
  if (!req) return call->ReplyError(req.error());
  std::set<std::string> namespaces;
  for (const auto& w : req->watches) namespaces.insert(w.ns);
  for (const auto& ns : namespaces) {
    if (!call->Authorize(ns, Role::kViewer)) return;
  }
  auto ws = std::make_shared<WatchStream>(io, hub, req->content);
  // Every batch goes through the stream's strand; the ones before the stream has started
  // (the replay, handed over inside Subscribe) wait in `pending` and go first.
  auto sub =
      hub.Subscribe(std::move(req->watches), std::move(req->consumer),
                    [w = std::weak_ptr<WatchStream>(ws)](std::vector<config::Delivery>&& batch) {
                      auto s = w.lock();
                      if (!s) return;
                      asio::post(s->strand, [s, batch = std::move(batch)]() mutable {
                        if (!s->stream) {
                          for (auto& d : batch) s->pending.push_back(std::move(d));
                          return;
                        }
                        s->Write(std::move(batch));
                      });
                    });
  if (!sub) return call->ReplyError(sub.error());
  ws->sub = std::move(*sub);
  auto stream = LineStream::Start(call, io);
  stream->SetFeed([ws] { asio::post(ws->strand, [ws] { ws->sub.reset(); }); });
  stream->KeepAlive(kKeepAliveEvery, [w = std::weak_ptr<WatchStream>(ws)] {
    auto s = w.lock();
    return Json{{"type", "progress"}, {"revision", s ? s->revision.load() : 0}};
  });
  asio::post(ws->strand, [ws, stream] {
    ws->stream = stream;
    ws->Write(std::move(ws->pending));
  });
}

// One blocking query: answers at the first change after `index`, or when `wait` is over, with
// what the consumer should run then.
// Its timer is touched only on its strand.
struct BlockingQuery {
  BlockingQuery(asio::io_context& io, std::shared_ptr<Call> call)
      : strand(asio::make_strand(io)), timer(strand), call(std::move(call)) {}
  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer timer;
  std::shared_ptr<Call> call;
  std::atomic<bool> answered{false};
  std::mutex mu;
  std::unique_ptr<config::DeliverySubscription> sub;  // guarded by mu
};

void AnswerQuery(const std::shared_ptr<BlockingQuery>& q, config::ConfigCenter& center,
                 const config::Consumer& consumer, bool changed) {
  if (q->answered.exchange(true)) return;
  q->timer.cancel();
  {
    std::lock_guard lock(q->mu);
    q->sub.reset();
  }
  const Call& call = *q->call;
  auto r = center.ReadFor(call.Param("ns"), call.Param("name"), consumer.instance, consumer.labels);
  if (!r) return q->call->ReplyError(r.error());
  q->call->Reply(200, Json{{"namespace", r->item.ns},
                           {"name", r->item.name},
                           {"index", r->item.mod_revision},
                           {"changed", changed},
                           {"version", r->version.version},
                           {"format", config::FormatName(r->version.format)},
                           {"sha256", r->version.sha256},
                           {"content", r->content}});
}

Result<config::Consumer> ReadConsumer(const Call& call) {
  config::Consumer c;
  c.instance = call.Query("instance").value_or("");
  if (auto labels = call.Query("labels"); labels && !labels->empty()) {
    c.labels = BERTH_TRY(config::ParseLabelList(*labels, "labels"));
  }
  return c;
}

void HandleBlockingQuery(std::shared_ptr<Call> call, config::ConfigCenter& center,
                         config::DeliveryHub& hub, asio::io_context& io) {
  auto index = call->QueryInt("index", 0);
  if (!index) return call->ReplyError(index.error());
  auto consumer = ReadConsumer(*call);
  if (!consumer) return call->ReplyError(consumer.error());
  std::chrono::milliseconds wait = kDefaultWait;
  if (auto w = call->Query("wait"); w && !w->empty()) {
    auto d = ParseDuration(*w);
    if (!d || *d <= std::chrono::milliseconds(0) || *d > kMaxWait) {
      return call->ReplyError(Error(ErrorCode::kInvalidArgument,
                                    fmt::format("wait {} must be a duration up to 10m", *w)));
    }
    wait = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  if (*index <= 0)
    return AnswerQuery(std::make_shared<BlockingQuery>(io, call), center, *consumer, true);
  auto q = std::make_shared<BlockingQuery>(io, call);
  auto sub = hub.Subscribe(
      {{.ns = call->Param("ns"), .name = call->Param("name"), .from_revision = *index + 1}},
      *consumer,
      [w = std::weak_ptr<BlockingQuery>(q), &center,
       consumer = *consumer](std::vector<config::Delivery>&&) {
        auto s = w.lock();
        if (!s) return;
        // Off the hub's lock: the answer reads the store.
        asio::post(s->strand, [s, &center, consumer] { AnswerQuery(s, center, consumer, true); });
      });
  if (!sub) return call->ReplyError(sub.error());
  {
    std::lock_guard lock(q->mu);
    if (!q->answered) q->sub = std::move(*sub);
  }
  asio::post(q->strand, [q, wait, &center, consumer = *consumer] {
    if (q->answered) return;
    q->timer.expires_after(wait);
    q->timer.async_wait([q, &center, consumer](const asio::error_code& ec) {
      if (ec) return;
      AnswerQuery(q, center, consumer, false);
    });
  });
}

// POST .../ack: {"consumer","version","revision"?,"node"?,"error"?}.
Result<config::Ack> ReadAck(const Call& call) {
  auto doc = BERTH_TRY(call.ReadBody());
  config::Ack a;
  input::Object o(doc.root());
  o.Required("consumer", a.consumer, input::NonEmptyString);
  o.Required("version", a.version, input::Int(1, INT64_MAX, "a version number"));
  o.Optional("revision", a.revision, input::Int(0, INT64_MAX));
  o.Optional("node", a.node);
  o.Optional("error", a.error);
  BERTH_TRY(o.Done());
  return a;
}

}  // namespace

void RegisterConfigDeliveryEndpoints(Router& router, config::ConfigCenter& center,
                                     config::DeliveryHub& hub, asio::io_context& io) {
  router.Add({.method = "POST",
              .pattern = "/v1/configs:watch",
              .access = Access::kHandler,
              .handler = [&hub, &io](std::shared_ptr<Call> call) {
                HandleWatchStream(std::move(call), hub, io);
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/configs/{ns}/{name}/watch",
              .access = Access::kNamespace,
              .handler = [&center, &hub, &io](std::shared_ptr<Call> call) {
                HandleBlockingQuery(std::move(call), center, hub, io);
              }});
  // Consumers report what they applied; not audited (a status report, not a change of any
  // config; 10,000 consumers acknowledge every publish).
  router.Add({.method = "POST",
              .pattern = "/v1/configs/{ns}/{name}/ack",
              .access = Access::kNamespace,
              .handler = [&center](std::shared_ptr<Call> call) {
                auto a = ReadAck(*call);
                if (!a) return call->ReplyError(a.error());
                auto r = center.Acknowledge(call->Param("ns"), call->Param("name"), *a);
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"revision", *r}});
              }});
}

}  // namespace berth::api
