#include "api/change_feed.h"

#include <fmt/core.h>

#include <atomic>
#include <set>
#include <tuple>

#include "api/line_stream.h"
#include "gateway/route_store.h"
#include "orchestrator/app_store.h"
#include "orchestrator/canary.h"
#include "orchestrator/codec.h"
#include "registry/model.h"

namespace berth::api {
namespace {

namespace orch = berth::orchestrator;

constexpr auto kProgressEvery = std::chrono::seconds(5);
const std::set<std::string, std::less<>> kTopics = {"apps", "nodes", "gateway", "registry"};

// "<ns>/<app>[/...]" after one of the controller's per-app prefixes.
std::optional<ChangedObject> AppRecord(std::string_view key) {
  for (std::string_view prefix :
       {orch::kStatusPrefix, orch::kRolloutsPrefix, orch::kEventsPrefix, orch::kHistoryPrefix,
        orch::kAutoscalePrefix, orch::kCanaryPrefix}) {
    if (!key.starts_with(prefix)) continue;
    std::string_view rest = key.substr(prefix.size());
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    std::string_view ns = rest.substr(0, slash);
    rest = rest.substr(slash + 1);
    std::string_view app = rest.substr(0, rest.find('/'));
    if (app.empty()) return std::nullopt;
    return ChangedObject{"apps", std::string(ns), std::string(app), false};
  }
  return std::nullopt;
}

}  // namespace

std::vector<ChangedObject> ClassifyKey(std::string_view key, bool deleted) {
  std::vector<ChangedObject> out;
  if (key.starts_with(orch::kAppsPrefix)) {
    std::string_view rest = key.substr(orch::kAppsPrefix.size());
    size_t slash = rest.find('/');
    if (slash != std::string_view::npos && slash > 0 && slash + 1 < rest.size() &&
        rest.find('/', slash + 1) == std::string_view::npos) {
      out.push_back({"apps", std::string(rest.substr(0, slash)),
                     std::string(rest.substr(slash + 1)), deleted});
    }
  } else if (key.starts_with(orch::kNodesPrefix)) {
    if (auto parts = orch::ParseNodeKey(key)) {
      if (parts->kind == orch::NodeKeyParts::Kind::kNode) {
        out.push_back({"nodes", "", parts->node, deleted});
      } else {
        out.push_back({"apps", parts->ns, parts->app, false});
        out.push_back({"nodes", "", parts->node, false});
      }
    }
  } else if (key.starts_with("/orchestrator/")) {
    if (auto app = AppRecord(key)) out.push_back(std::move(*app));
  } else if (key.starts_with(gateway::kRoutesKeyPrefix)) {
    out.push_back(
        {"gateway", "", std::string(key.substr(gateway::kRoutesKeyPrefix.size())), deleted});
  } else if (key.starts_with(gateway::kServicesKeyPrefix)) {
    out.push_back(
        {"gateway", "", std::string(key.substr(gateway::kServicesKeyPrefix.size())), false});
  } else if (key.starts_with(registry::kKeyRoot)) {
    if (auto parts = registry::ParseInstanceKey(key)) {
      out.push_back({"registry", parts->ns, parts->service, false});
    }
  }
  return out;
}

namespace {

struct Filter {
  std::set<std::string, std::less<>> topics;
  std::string ns;
  security::Principal caller;  // names only what it may read
  bool Wants(const ChangedObject& o) const {
    if (!topics.contains(o.topic)) return false;
    // Cluster-wide objects (nodes, routes) for global viewers; the rest by namespace.
    if (o.ns.empty() ? !caller.SeesAllNamespaces() : !caller.MayRead(o.ns)) return false;
    return ns.empty() || o.ns.empty() || o.ns == ns;
  }
};

Result<Filter> ParseFilter(const Call& call) {
  Filter f;
  std::string topics = call.Query("topics").value_or("");
  if (topics.empty()) {
    f.topics = kTopics;
  } else {
    size_t start = 0;
    while (start <= topics.size()) {
      size_t comma = topics.find(',', start);
      std::string t =
          topics.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!kTopics.contains(t)) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("unknown topic \"{}\" (want apps, nodes, gateway or registry)",
                                t.substr(0, 64)));
      }
      f.topics.insert(std::move(t));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  f.ns = call.Query("namespace").value_or("");
  f.caller = call.principal();
  return f;
}

void Watch(const std::shared_ptr<Call>& call, store::Store& store, asio::io_context& io) {
  auto filter = ParseFilter(*call);
  if (!filter) return call->ReplyError(filter.error());
  if (!filter->ns.empty() && !call->Authorize(filter->ns, security::Role::kViewer)) return;
  auto revision = call->QueryInt("revision", 0);
  if (!revision) return call->ReplyError(revision.error());
  if (*revision < 0) {
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "revision must be >= 0"));
  }
  auto current = store.CurrentRevision();
  if (!current) return call->ReplyError(current.error());
  auto compact = store.CompactRevision();
  if (compact && *revision != 0 && *revision <= *compact) {
    return call->ReplyError(
        Error(ErrorCode::kCompacted,
              fmt::format("revision {} was compacted (compact revision {}): read again and "
                          "watch from the current revision",
                          *revision, *compact)));
  }
  auto stream = LineStream::Start(call, io);
  // Up to here every change has been sent (a progress line's revision).
  auto seen = std::make_shared<std::atomic<int64_t>>(*revision > 0 ? *revision - 1 : *current);
  auto watcher =
      store.Watch("/", {.prefix = true, .start_revision = *revision},
                  [stream, seen, filter = *filter](store::WatchResponse&& resp) {
                    if (resp.compacted || resp.canceled) {
                      return stream->End(WatchEndedJson(resp.compacted, resp.compact_revision,
                                                        resp.cancel_reason));
                    }
                    // One line per object and revision (a commit may touch an app many times).
                    std::set<std::tuple<int64_t, std::string, std::string, std::string>> sent;
                    for (const auto& e : resp.events) {
                      const bool deleted = e.type == store::Event::Type::kDelete;
                      for (auto& o : ClassifyKey(e.kv.key, deleted)) {
                        if (!filter.Wants(o)) continue;
                        if (!sent.emplace(e.kv.mod_revision, o.topic, o.ns, o.name).second)
                          continue;
                        Json line{{"topic", o.topic},
                                  {"name", o.name},
                                  {"type", o.deleted ? "deleted" : "changed"},
                                  {"revision", e.kv.mod_revision}};
                        if (!o.ns.empty()) line["namespace"] = o.ns;
                        if (!stream->Write(line)) return;
                      }
                    }
                    seen->store(std::max(seen->load(), resp.revision));
                  });
  if (!watcher) return stream->EndWithError(watcher.error());
  stream->SetFeed([w = std::shared_ptr<store::Watcher>(std::move(*watcher))] { w->Cancel(); });
  auto progress = [seen] { return Json{{"type", "progress"}, {"revision", seen->load()}}; };
  stream->Write(progress());  // at once: the client knows the stream is live, and from where
  stream->KeepAlive(kProgressEvery, progress);
}

}  // namespace

void RegisterChangeEndpoints(Router& router, store::Store& store, asio::io_context& io) {
  router.Add({.method = "GET",
              .pattern = "/v1/changes",
              .access = Access::kList,
              .handler = [&store, &io](std::shared_ptr<Call> call) { Watch(call, store, io); }});
}

}  // namespace berth::api
