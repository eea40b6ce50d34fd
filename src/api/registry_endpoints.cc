#include "api/registry_endpoints.h"

#include <fmt/core.h>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <limits>
#include <mutex>
#include <set>

#include "api/line_stream.h"
#include "core/http/message.h"
#include "core/json.h"
#include "core/json_writer.h"

namespace berth::api {
namespace {

using registry::Health;
using registry::Instance;
using security::Role;

constexpr auto kMaxWait = std::chrono::minutes(10);
constexpr auto kDefaultWait = std::chrono::seconds(30);

Json InstanceJson(const Instance& in) { return registry::InstanceToJson(in); }

// A service view ({"index","instances","namespace","service"}) written as text: each instance's
// JSON is pasted in as it is rendered (no parse and re-serialization per instance). Keys in
// nlohmann's order.
std::string ViewJsonText(const registry::ServiceView& v) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Key("index").Int(v.index).Key("instances").BeginArray();
  for (const auto& in : v.instances) w.Raw(registry::InstanceToJsonText(in));
  w.EndArray().Key("namespace").String(v.ns).Key("service").String(v.service).EndObject();
  return out;
}

// The services the caller may see (a token bound to some namespaces sees only theirs).
Json ListJson(const registry::ServiceList& l, const Call& call) {
  Json services = Json::array();
  for (const auto& s : l.services) {
    if (!call.MayRead(s.ns)) continue;
    services.push_back(Json{{"namespace", s.ns},
                            {"service", s.service},
                            {"instances", s.instances},
                            {"passing", s.passing},
                            {"tags", s.tags}});
  }
  return Json{{"services", std::move(services)}, {"index", l.index}};
}

Json EventJson(const registry::WatchEvent& e) {
  Json j{{"type", e.type == registry::WatchEvent::Type::kPut ? "put" : "delete"},
         {"revision", e.revision},
         {"namespace", e.ns},
         {"service", e.service},
         {"id", e.id}};
  if (e.instance) j["instance"] = InstanceJson(*e.instance);
  return j;
}

// Every value of a repeated query parameter (?tag=a&tag=b).
Result<std::vector<std::string>> QueryAll(const http::Request& r, std::string_view name) {
  std::vector<std::string> out;
  std::string_view rest = r.query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    auto n = http::PercentDecode(pair.substr(0, eq), true);
    if (!n || *n != name) continue;
    auto v = http::PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!v) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("query parameter {} is not valid percent-encoding", name));
    }
    out.push_back(std::move(*v));
  }
  return out;
}

void StreamWatch(const std::shared_ptr<Call>& call, registry::Registry& reg, std::string ns,
                 std::string service, asio::io_context& io) {
  auto revision = call->QueryInt("revision", 0);
  if (!revision) return call->ReplyError(revision.error());
  if (*revision < 0) {
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "revision must be >= 0"));
  }
  if (*revision > 0) {  // a compacted start answers 410 before streaming
    auto compact = reg.store().CompactRevision();
    if (!compact) return call->ReplyError(compact.error());
    if (*revision < *compact) {
      return call->ReplyError(
          Error(ErrorCode::kCompacted,
                fmt::format("revision {} was compacted (compact revision {}); list the service and "
                            "watch from the list's index + 1",
                            *revision, *compact)));
    }
  }
  struct State {
    std::mutex mu;
    std::unique_ptr<registry::Subscription> sub;
    bool closed = false;
  };
  auto state = std::make_shared<State>();
  call->StartStream();
  auto sub = reg.Watch(ns, service, *revision, [call, state, &io](registry::WatchBatch&& b) {
    if (b.compacted || b.canceled) {
      call->StreamLine(WatchEndedJson(b.compacted, b.compact_revision, b.cancel_reason));
      call->EndStream();
      return;
    }
    for (const auto& e : b.events) {
      if (!call->MayRead(e.ns)) continue;  // a watch of every namespace, by a namespaced token
      bool ok = e.json ? call->writer()->Write(*e.json + "\n") : call->StreamLine(EventJson(e));
      if (!ok) return;  // gone: OnClose cancels
    }
  });
  if (!sub) {
    call->EndStreamWithError(sub.error());
    return;
  }
  {
    std::lock_guard lock(state->mu);
    state->sub = std::move(*sub);
  }
  call->writer()->OnClose([state, &io] {
    std::unique_ptr<registry::Subscription> s;
    {
      std::lock_guard lock(state->mu);
      state->closed = true;
      s = std::move(state->sub);
    }
    // Cancel off the connection's thread: it may wait for a running callback.
    if (s)
      asio::post(io, [s = std::shared_ptr<registry::Subscription>(std::move(s))] { s->Cancel(); });
  });
}

// ---- multiplexed watch stream: POST /v1/registry:watch ---------------------------------

constexpr size_t kMaxWatchesPerStream = 10000;
constexpr auto kDefaultProgress = std::chrono::seconds(5);
constexpr auto kMinProgress = std::chrono::milliseconds(100);

struct MultiWatchRequest {
  std::vector<registry::WatchSpec> specs;
  std::chrono::milliseconds progress{kDefaultProgress};  // 0: no progress lines
};

Result<registry::WatchSpec> ReadWatchSpec(const input::Node& n, int64_t default_id) {
  registry::WatchSpec spec;
  spec.id = default_id;
  input::Object o(n);
  o.Optional("id", spec.id, input::Int(0, INT64_MAX))
      .Optional("namespace", spec.ns)
      .Optional("service", spec.service)
      .Optional("service_prefix", spec.service_prefix)
      .Optional("revision", spec.from_revision, input::Int(0, INT64_MAX));
  if (const input::Node* filters = o.Take("filters")) {
    const auto filter =
        input::Enum<std::string_view>({{"noput", "noput"}, {"nodelete", "nodelete"}});
    auto list = input::ListOf(filter)(*filters);
    if (!list) {
      o.Fail(std::move(list.error()));
    } else {
      for (std::string_view f : *list) (f == "noput" ? spec.no_put : spec.no_delete) = true;
    }
  }
  BERTH_TRY(o.Done());
  if (auto r = registry::Registry::ValidateWatchSpec(spec); !r) return n.Fail(r.error().message);
  return spec;
}

// {"watches":[{"id","namespace","service","service_prefix","revision","filters"}],
//  "progress_interval":"5s"}; every spec validated, ids unique.
Result<MultiWatchRequest> ParseMultiWatch(const input::Node& body) {
  MultiWatchRequest out;
  input::Object o(body);
  o.Optional("progress_interval", out.progress, [](const input::Node& p) -> Result<Millis> {
    const Millis d = BERTH_TRY(input::Duration{}(p));
    if (d.count() != 0 && d < kMinProgress) return p.Fail("must be 0s (none) or at least 100ms");
    return d;
  });
  const input::Node* list = o.Take("watches");
  if (list == nullptr) o.Fail(body.Invalid("\"watches\" is required"));
  BERTH_TRY(o.Done());
  if (!list->IsList() || list->items().empty()) {
    return list->Fail(
        "must be a non-empty array of {\"id\",\"namespace\",\"service\",\"service_prefix\","
        "\"revision\",\"filters\"}");
  }
  if (list->items().size() > kMaxWatchesPerStream) {
    return list->Fail(fmt::format("{} watches on one stream; the limit is {} (open another stream)",
                                  list->items().size(), kMaxWatchesPerStream));
  }
  std::set<int64_t> ids;
  for (size_t i = 0; i < list->items().size(); ++i) {
    const input::Node& w = *list->items()[i];
    registry::WatchSpec spec = BERTH_TRY(ReadWatchSpec(w, static_cast<int64_t>(i)));
    if (!ids.insert(spec.id).second) {
      return w.Fail(fmt::format("watch id {} is given twice; ids must be unique", spec.id));
    }
    out.specs.push_back(std::move(spec));
  }
  return out;
}

// What a multiplexed stream keeps: per watch its line prefix, the subscription, the
// progress timer.
struct MultiWatchState {
  explicit MultiWatchState(asio::io_context& io) : timer(io) {}
  std::vector<std::string> prefixes;  // `{"watch_id":N,` per watch
  bool filter = false;                // drop events of namespaces the caller may not read
  std::atomic<size_t> live{0};        // watches not ended yet
  std::mutex mu;                      // guards the two below
  std::shared_ptr<registry::MultiSubscription> sub;
  bool closed = false;
  asio::steady_timer timer;  // touched only by ScheduleProgress and its handler
  std::mutex out_mu;         // guards the two below
  std::vector<registry::MultiWatchBatch> queued;  // delivered, not written yet
  bool draining = false;                          // a DrainMultiWatch job is queued or running
};

// Renders what the hub delivered for one stream as one chunk (one gather write) and writes
// it; runs as one job per stream at a time, so the stream's lines keep the hub's order.
void DrainMultiWatch(Call& call, MultiWatchState& state) {
  for (;;) {
    std::vector<registry::MultiWatchBatch> batches;
    {
      std::lock_guard lock(state.out_mu);
      if (state.queued.empty()) {
        state.draining = false;
        return;
      }
      batches.swap(state.queued);
    }
    std::string out;
    size_t size = 0;
    for (const auto& b : batches) {
      for (const auto& [w, e] : b.events) size += state.prefixes[w].size() + e->json->size();
    }
    out.reserve(size);
    size_t ended = 0;
    for (const auto& b : batches) {
      for (size_t i = 0; i < b.created.size(); ++i) {
        fmt::format_to(std::back_inserter(out),
                       R"({}"type":"created","start_revision":{}}})"
                       "\n",
                       state.prefixes[i], b.created[i]);
      }
      if (b.progress_revision > 0) {
        fmt::format_to(std::back_inserter(out),
                       R"({{"type":"progress","revision":{}}})"
                       "\n",
                       b.progress_revision);
      }
      for (const auto& [w, e] : b.events) {
        if (state.filter && !call.MayRead(e->ns)) continue;
        const std::string& json = *e->json;  // {"type":...}: the watch id goes in front
        out += state.prefixes[w];
        out.append(json.data() + 1, json.size() - 1);
        out += '\n';
      }
      for (const auto& end : b.ended) {
        Json error{{"code", end.compacted ? "compacted" : "unavailable"}, {"message", end.reason}};
        if (end.compacted) error["compact_revision"] = end.compact_revision;
        fmt::format_to(std::back_inserter(out),
                       R"({}"type":"canceled","error":{}}})"
                       "\n",
                       state.prefixes[end.watch], DumpJson(error));
        ++ended;
      }
    }
    if (!out.empty()) call.writer()->Write(std::move(out));
    if (ended > 0 && state.live.fetch_sub(ended) == ended) call.EndStream();
  }
}

// A progress line every `every` until the stream closes (the handler holds the state until
// then).
void ScheduleProgress(const std::shared_ptr<MultiWatchState>& state,
                      std::chrono::milliseconds every) {
  state->timer.expires_after(every);
  state->timer.async_wait([state, every](const asio::error_code& ec) {
    if (ec) return;
    std::shared_ptr<registry::MultiSubscription> s;
    {
      std::lock_guard lock(state->mu);
      if (state->closed) return;
      s = state->sub;
    }
    if (s) s->Progress();
    ScheduleProgress(state, every);
  });
}

// One multiplexed stream: lines `{"watch_id":N,...}` for created/events/canceled, and
// `{"type":"progress","revision":R}`. Each delivery is one chunk (one gather write): the
// event's JSON is rendered once by the registry and shared by every watch and stream.
void StreamMultiWatch(const std::shared_ptr<Call>& call, registry::Registry& reg,
                      asio::io_context& io, asio::thread_pool& pool) {
  auto body = call->ReadBody();
  if (!body) return call->ReplyError(body.error());
  auto request = ParseMultiWatch(body->root());
  if (!request) return call->ReplyError(request.error());
  // A watch of one namespace needs viewer there; a watch of every namespace shows a token
  // bound to some namespaces only theirs.
  bool filter = false;
  for (const auto& spec : request->specs) {
    if (!spec.ns.empty()) {
      if (!call->Authorize(spec.ns, Role::kViewer)) return;
    } else if (!call->principal().SeesAllNamespaces()) {
      filter = true;
    }
  }
  call->FilterByNamespace();  // every namespace named was authorized, the rest is filtered
  // A compacted start answers 410 before streaming, as the single watch and /v1/watch do.
  auto compact = reg.store().CompactRevision();
  if (!compact) return call->ReplyError(compact.error());
  for (const auto& spec : request->specs) {
    if (spec.from_revision > 0 && spec.from_revision < *compact) {
      return call->ReplyError(
          Error(ErrorCode::kCompacted,
                fmt::format("watch {}: revision {} was compacted (compact revision {}); list the "
                            "service and watch from the list's index + 1",
                            spec.id, spec.from_revision, *compact)));
    }
  }
  auto state = std::make_shared<MultiWatchState>(io);
  state->prefixes.reserve(request->specs.size());
  for (const auto& spec : request->specs) {
    state->prefixes.push_back(fmt::format(R"({{"watch_id":{},)", spec.id));
  }
  state->live = request->specs.size();
  state->filter = filter;
  call->StartStream();
  // The hub calls this under its lock, for every stream in turn: it only queues, and one
  // pool job per stream at a time renders and writes (streams in parallel, each in order).
  auto handler = [call, state, &pool](registry::MultiWatchBatch&& b) {
    {
      std::lock_guard lock(state->out_mu);
      state->queued.push_back(std::move(b));
      if (state->draining) return;
      state->draining = true;
    }
    asio::post(pool, [call, state] { DrainMultiWatch(*call, *state); });
  };
  auto sub = reg.WatchMany(std::move(request->specs), std::move(handler));
  if (!sub) {
    call->EndStreamWithError(sub.error());
    return;
  }
  {
    std::lock_guard lock(state->mu);
    state->sub = std::shared_ptr<registry::MultiSubscription>(std::move(*sub));
  }
  if (request->progress.count() > 0) ScheduleProgress(state, request->progress);
  call->writer()->OnClose([state, &io] {
    std::shared_ptr<registry::MultiSubscription> s;
    {
      std::lock_guard lock(state->mu);
      state->closed = true;
      s = std::move(state->sub);
    }
    // Cancel off the connection's thread: it may wait for a running callback.
    if (s) asio::post(io, [s] { s->Cancel(); });
  });
}

// GET /v1/registry/{ns}/{service}, plain or blocking.
void GetService(const std::shared_ptr<Call>& call, registry::Registry& reg, asio::io_context& io) {
  const std::string& ns = call->Param("ns");
  const std::string& service = call->Param("service");
  if (call->QueryFlag("watch")) return StreamWatch(call, reg, ns, service, io);
  auto tags = QueryAll(call->request(), "tag");
  if (!tags) return call->ReplyError(tags.error());
  registry::InstanceFilter filter{.tags = *tags, .passing_only = call->QueryFlag("passing")};
  auto index = call->QueryInt("index", 0);
  if (!index) return call->ReplyError(index.error());
  if (*index < 0) return call->ReplyError(Error(ErrorCode::kInvalidArgument, "index must be >= 0"));
  if (*index == 0) {
    auto v = reg.GetService(ns, service, filter);
    if (!v) return call->ReplyError(v.error());
    return call->ReplyJsonText(200, ViewJsonText(*v));
  }
  std::chrono::milliseconds wait = kDefaultWait;
  if (auto w = call->Query("wait")) {
    auto d = ParseDuration(*w);
    if (!d) return call->ReplyError(Wrap(d.error(), "wait"));
    wait = std::min<std::chrono::milliseconds>(*d, kMaxWait);
  }
  // Blocking query, without blocking the HTTP worker: a watch from index + 1 and a timer;
  // whichever fires first answers with the current view.
  struct Pending {
    explicit Pending(asio::io_context& io) : timer(io) {}
    std::atomic<bool> done{false};
    asio::steady_timer timer;
    std::mutex mu;
    std::shared_ptr<registry::Subscription> sub;
  };
  auto p = std::make_shared<Pending>(io);
  auto finish = [call, p, &reg, &io, ns, service, filter] {
    if (p->done.exchange(true)) return;
    asio::post(io, [call, p, &reg, ns, service, filter] {
      p->timer.cancel();
      std::shared_ptr<registry::Subscription> s;
      {
        std::lock_guard lock(p->mu);
        s = std::move(p->sub);
      }
      if (s) s->Cancel();
      auto v = reg.BlockingGetService(ns, service, filter, 0, std::chrono::milliseconds(0));
      if (!v) return call->ReplyError(v.error());
      call->ReplyJsonText(200, ViewJsonText(*v));
    });
  };
  auto sub = reg.Watch(ns, service, *index + 1, [finish](registry::WatchBatch&& b) {
    if (!b.events.empty() || b.compacted || b.canceled) finish();
  });
  if (!sub) return call->ReplyError(sub.error());
  {
    std::lock_guard lock(p->mu);
    p->sub = std::shared_ptr<registry::Subscription>(std::move(*sub));
  }
  if (p->done) {  // answered during the replay: the subscription is ours to drop
    asio::post(io, [p] {
      std::lock_guard lock(p->mu);
      if (p->sub) p->sub->Cancel();
      p->sub.reset();
    });
    return;
  }
  p->timer.expires_after(wait);
  p->timer.async_wait([finish](const asio::error_code& ec) {
    if (!ec) finish();
  });
  call->writer()->OnClose([finish] { finish(); });
}

Result<Instance> ParseBody(const Call& call) {
  return registry::ParseRegistration(call.request().body, call.Param("ns"), call.Param("service"),
                                     call.Param("instance"));
}

// An exec check runs a command in a container on every interval: admin only, and only where
// a node agent can run it — the agent of the node the instance names, or one in this process
// (never as a process of the control plane).
Result<void> ExecCheckAllowed(const Call& call, const Instance& in,
                              const RegistryEndpointOptions& options) {
  if (call.principal().role < Role::kAdmin) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("exec health checks need the admin role (they run a command in the "
                            "container on every interval); {} has {}",
                            call.principal().name, security::RoleName(call.principal().role)));
  }
  if (!options.exec_checks && !registry::ExecCheckNode(in)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("check.exec: this control plane has no node agent of its own to run "
                            "it inside the container; name the node whose agent runs the "
                            "container in metadata \"{}\" (that agent runs the check and "
                            "reports it), or use an http or tcp check",
                            registry::kNodeMetadataKey));
  }
  return {};
}

// What one node's check stream has told its client: the instances the client holds, so that
// only their departures go out as deletes (decision 0007). The client holds, once the stream
// has passed the revision the server listed at (`listed`), exactly this node's checks at that
// revision — the list from which `held` starts — whatever it held before: up to `listed` every
// change that is not this node's check goes out as a delete, as any could be a departure.
struct NodeCheckFilter {
  std::mutex mu;
  int64_t listed = 0;               // filter the changes after it (INT64_MAX: none)
  std::set<std::string> held;       // guarded by mu: instance keys
  std::atomic<int64_t> through{0};  // every change up to it has been sent or filtered out
};

// GET /v1/nodes/{node}/checks: the instances whose exec check this node's agent runs; with
// ?watch=1&revision=R, their changes as JSON lines from R: "put" with the instance for a
// check of this node, "delete" with its identity when an instance the client holds went or
// its check is no longer this node's, and progress lines with the revision every change up
// to which has been considered (a client resumes after it).
void NodeChecks(const std::shared_ptr<Call>& call, registry::Registry& reg, asio::io_context& io) {
  const std::string node = call->Param("node");
  if (auto v = registry::ValidateNamespace(node); !v) {
    return call->ReplyError(
        Error(ErrorCode::kInvalidArgument, fmt::format("node \"{}\" is not a node name", node)));
  }
  auto mine = [node](const Instance& in) { return registry::ExecCheckNode(in) == node; };
  if (!call->QueryFlag("watch")) {
    auto all = reg.ListInstances("");
    if (!all) return call->ReplyError(all.error());
    Json list = Json::array();
    for (const auto& in : all->instances)
      if (mine(in)) list.push_back(InstanceJson(in));
    return call->Reply(200, Json{{"revision", all->index}, {"instances", std::move(list)}});
  }
  auto revision = call->QueryInt("revision", 0);
  if (!revision) return call->ReplyError(revision.error());
  if (*revision < 0) {
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "revision must be >= 0"));
  }
  auto all = reg.ListInstances("");
  if (!all) return call->ReplyError(all.error());
  auto filter = std::make_shared<NodeCheckFilter>();
  for (const auto& in : all->instances) {
    if (mine(in)) filter->held.insert(registry::InstanceKey(in.ns, in.service, in.id));
  }
  // From now is from just after the list. A start past it (a revision this store has not
  // reached when it listed) leaves a gap the list cannot fill: nothing is filtered then.
  const int64_t start = *revision == 0 ? all->index + 1 : *revision;
  filter->listed = start <= all->index + 1 ? all->index : std::numeric_limits<int64_t>::max();
  filter->through = start - 1;
  auto stream = LineStream::Start(call, io);
  auto sub = reg.Watch("", "", start, [stream, mine, filter](registry::WatchBatch&& b) {
    if (b.compacted || b.canceled) {
      return stream->End(WatchEndedJson(b.compacted, b.compact_revision, b.cancel_reason));
    }
    std::lock_guard lock(filter->mu);
    for (const auto& e : b.events) {
      const bool put =
          e.type == registry::WatchEvent::Type::kPut && e.instance && mine(*e.instance);
      // After `listed`: a put of this node's check is held from then on; any other change is
      // told only when it ends an instance the client holds.
      auto tell = [&] {
        if (e.revision <= filter->listed) return true;
        std::string key = registry::InstanceKey(e.ns, e.service, e.id);
        if (put) {
          filter->held.insert(std::move(key));
          return true;
        }
        return filter->held.erase(key) > 0;
      };
      if (tell()) {
        Json line = put ? Json{{"type", "put"},
                               {"revision", e.revision},
                               {"instance", InstanceJson(*e.instance)}}
                        : Json{{"type", "delete"},
                               {"revision", e.revision},
                               {"namespace", e.ns},
                               {"service", e.service},
                               {"id", e.id}};
        if (!stream->Write(line)) return;
      }
      filter->through = std::max(filter->through.load(), e.revision);
    }
  });
  if (!sub) return stream->EndWithError(sub.error());
  stream->SetFeed([s = std::shared_ptr<registry::Subscription>(std::move(*sub))] { s->Cancel(); });
  stream->KeepAlive(std::chrono::seconds(5), [filter] {
    Json line{{"type", "progress"}};
    if (int64_t r = filter->through.load(); r > 0) line["revision"] = r;
    return line;
  });
}

// For a node token (`node` not empty): the stored instance a write may change must be that
// node's own (registry::AuthorizeNodeWrite); other callers are not restricted here.
registry::Registry::WritePrecondition OwnedBy(std::string node) {
  if (node.empty()) return nullptr;
  return [node = std::move(node)](const Instance* stored) {
    return registry::AuthorizeNodeWrite(node, stored, nullptr);
  };
}

// Runs `fn(call)` on the blocking pool.
EndpointHandler OnPool(asio::thread_pool& pool,
                       std::function<void(const std::shared_ptr<Call>&)> fn) {
  return [&pool, fn = std::move(fn)](std::shared_ptr<Call> call) {
    asio::post(pool, [fn, call = std::move(call)] { fn(call); });
  };
}

}  // namespace

void RegisterRegistryEndpoints(Router& router, registry::Registry& reg, asio::io_context& io,
                               asio::thread_pool& pool, RegistryEndpointOptions options) {
  router.Add({.method = "PUT",
              .pattern = "/v1/registry/{ns}/{service}/{instance}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .runs_inline = true,  // never waits: the store or the pool answers
              .for_nodes = true,    // the agent registers its ready instances
              .handler = [&reg, &pool, options](std::shared_ptr<Call> call) {
                auto in = ParseBody(*call);
                if (!in) return call->ReplyError(in.error());
                if (in->check && in->check->kind == registry::CheckSpec::Kind::kExec) {
                  if (auto e = ExecCheckAllowed(*call, *in, options); !e) {
                    return call->ReplyError(e.error());
                  }
                }
                const std::string node = call->principal().node;
                if (auto own = registry::AuthorizeNodeWrite(node, nullptr, &*in); !own) {
                  return call->ReplyError(own.error());
                }
                reg.RegisterAsync(
                    std::move(*in),
                    [&pool](std::function<void()> fn) { asio::post(pool, std::move(fn)); },
                    // Runs on the store's publisher, which answers a whole group commit:
                    // the answer is formatted and sent (and audited) on the connection's
                    // worker, so the workers do it side by side.
                    [call](Result<registry::Instance> r) {
                      auto writer = call->writer();
                      writer->Post([call = std::move(call), r = std::move(r)] {
                        if (!r) return call->ReplyError(r.error());
                        call->ReplyJsonText(200, registry::InstanceToJsonText(*r));
                      });
                    },
                    OwnedBy(node));
              }});
  router.Add({.method = "PUT",
              .pattern = "/v1/registry/{ns}/{service}/{instance}/heartbeat",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .for_nodes = true,
              .handler = OnPool(pool, [&reg](const std::shared_ptr<Call>& call) {
                auto r = reg.Heartbeat(call->Param("ns"), call->Param("service"),
                                       call->Param("instance"), OwnedBy(call->principal().node));
                if (!r) return call->ReplyError(r.error());
                call->ReplyJsonText(200, registry::InstanceToJsonText(*r));
              })});
  router.Add({.method = "PUT",
              .pattern = "/v1/registry/{ns}/{service}/{instance}/health",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .for_nodes = true,
              .handler = OnPool(pool, [&reg](const std::shared_ptr<Call>& call) {
                auto report = registry::ParseHealthReport(call->request().body);
                if (!report) return call->ReplyError(report.error());
                const security::Principal& who = call->principal();
                auto r = reg.SetHealth(call->Param("ns"), call->Param("service"),
                                       call->Param("instance"), report->status, report->output,
                                       [&who](const Instance& stored) {
                                         return registry::AuthorizeHealthReport(
                                             stored, who.node, who.role >= Role::kAdmin);
                                       });
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, InstanceJson(*r));
              })});
  router.Add({.method = "GET",
              .pattern = "/v1/nodes/{node}/checks",
              .access = Access::kCluster,
              .for_nodes = true,
              .handler = OnPool(pool, [&reg, &io](const std::shared_ptr<Call>& call) {
                NodeChecks(call, reg, io);
              })});
  router.Add({.method = "DELETE",
              .pattern = "/v1/registry/{ns}/{service}/{instance}",
              .access = Access::kNamespace,
              .min_role = Role::kOperator,
              .mutating = true,
              .for_nodes = true,
              .handler = OnPool(pool, [&reg](const std::shared_ptr<Call>& call) {
                auto r = reg.Deregister(call->Param("ns"), call->Param("service"),
                                        call->Param("instance"), OwnedBy(call->principal().node));
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"revision", *r}});
              })});
  router.Add({.method = "GET",
              .pattern = "/v1/registry/{ns}/{service}/{instance}",
              .access = Access::kNamespace,
              .handler = OnPool(pool, [&reg](const std::shared_ptr<Call>& call) {
                auto r = reg.GetInstance(call->Param("ns"), call->Param("service"),
                                         call->Param("instance"));
                if (!r) return call->ReplyError(r.error());
                call->ReplyJsonText(200, registry::InstanceToJsonText(*r));
              })});
  router.Add({.method = "GET",
              .pattern = "/v1/registry/{ns}/{service}",
              .access = Access::kNamespace,
              .handler = OnPool(pool, [&reg, &io](const std::shared_ptr<Call>& call) {
                GetService(call, reg, io);
              })});
  router.Add({.method = "GET",
              .pattern = "/v1/registry/{ns}",
              .access = Access::kNamespace,
              .handler = OnPool(pool, [&reg, &io](const std::shared_ptr<Call>& call) {
                const std::string& ns = call->Param("ns");
                if (call->QueryFlag("watch")) return StreamWatch(call, reg, ns, "", io);
                auto r = reg.ListServices(ns);
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, ListJson(*r, *call));
              })});
  // A multiplexed watch stream: many watches, one connection (docs/decisions/0006).
  router.Add({.method = "POST",
              .pattern = "/v1/registry:watch",
              .access = Access::kHandler,
              .handler = OnPool(pool, [&reg, &io, &pool](const std::shared_ptr<Call>& call) {
                StreamMultiWatch(call, reg, io, pool);
              })});
  router.Add({.method = "GET",
              .pattern = "/v1/registry",
              .access = Access::kList,
              .handler = OnPool(pool, [&reg, &io](const std::shared_ptr<Call>& call) {
                if (call->QueryFlag("watch")) return StreamWatch(call, reg, "", "", io);
                auto r = reg.ListServices("");
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, ListJson(*r, *call));
              })});
}

}  // namespace berth::api
