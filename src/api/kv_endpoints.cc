// Raw key-value access for administrators, etcd-shaped:
//   GET    /v1/kv/{key...}[?prefix][&revision=N][&limit=N][&keys_only][&serializable]
//   GET    /v1/kv?prefix                   every key
//   PUT    /v1/kv/{key...}  {"value": "...", "lease": 0, "prev_revision": N}
//   DELETE /v1/kv/{key...}[?prefix]
//   GET    /v1/watch/{key...}[?prefix][&revision=N]   JSON lines, one event each
//   POST   /v1/leases {"ttl": 10}, PUT /v1/leases/{id}/keepalive, DELETE /v1/leases/{id}
//   GET    /v1/leases/{id}
//   POST   /v1/compact {"revision": N}
#include <fmt/core.h>

#include <charconv>
#include <mutex>
#include <optional>

#include "api/endpoints.h"
#include "store/async_read.h"
#include "store/async_txn.h"
#include "store/store.h"

namespace berth::api {
namespace {

using security::Role;

Json KvJson(const store::KeyValue& kv, bool with_value = true) {
  Json j{{"key", kv.key},
         {"create_revision", kv.create_revision},
         {"mod_revision", kv.mod_revision},
         {"version", kv.version}};
  if (kv.lease != 0) j["lease"] = kv.lease;
  if (with_value) j["value"] = kv.value;
  return j;
}

Json EventJson(const store::Event& e) {
  Json j{{"type", e.type == store::Event::Type::kPut ? "put" : "delete"},
         {"kv", KvJson(e.kv, e.type == store::Event::Type::kPut)},
         {"revision", e.kv.mod_revision}};
  if (e.prev_kv) j["prev_kv"] = KvJson(*e.prev_kv);
  return j;
}

// The key from the URL, validated. Keys keep their leading slash: /v1/kv/apps/x -> "/apps/x".
Result<std::string> KeyParam(const Call& call) {
  const std::string& key = call.Param("key");
  if (auto v = store::ValidateKey(key); !v) return std::unexpected(v.error());
  return key;
}

// Answers a read: one key, or a prefix listing.
void ReplyRange(const std::shared_ptr<Call>& call, const std::string& key, bool prefix,
                bool keys_only, Result<store::RangeResult> r) {
  if (!r) return call->ReplyError(r.error());
  if (!prefix) {
    if (r->kvs.empty()) {
      return call->ReplyError(Error(ErrorCode::kNotFound, fmt::format("no key \"{}\"", key)));
    }
    return call->Reply(200, Json{{"kv", KvJson(r->kvs[0], !keys_only)}, {"revision", r->revision}});
  }
  Json kvs = Json::array();
  for (const auto& kv : r->kvs) kvs.push_back(KvJson(kv, !keys_only));
  call->Reply(200, Json{{"kvs", std::move(kvs)},
                        {"count", r->count},
                        {"more", r->more},
                        {"revision", r->revision}});
}

void Get(const std::shared_ptr<Call>& call, store::Store& store, std::string key) {
  auto revision = call->QueryInt("revision", 0);
  auto limit = call->QueryInt("limit", 0);
  if (!revision) return call->ReplyError(revision.error());
  if (!limit) return call->ReplyError(limit.error());
  if (*revision < 0 || *limit < 0) {
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "revision and limit must be >= 0"));
  }
  bool prefix = call->QueryFlag("prefix");
  bool keys_only = call->QueryFlag("keys_only");
  store::RangeOptions opts{.prefix = prefix,
                           .limit = *limit,
                           .revision = *revision,
                           .keys_only = keys_only,
                           .serializable = call->QueryFlag("serializable")};
  // On a back-end that reads without a thread waiting (etcd), the answer is sent from the
  // store's thread; otherwise this runs on the handler pool and waits.
  if (auto* async = store::AsyncReadOf(store)) {
    return async->GetAsync(key, opts, [call, key, prefix, keys_only](auto r) {
      ReplyRange(call, key, prefix, keys_only, std::move(r));
    });
  }
  ReplyRange(call, key, prefix, keys_only, store.Get(key, opts));
}

void Put(const std::shared_ptr<Call>& call, store::Store& store) {
  auto key = KeyParam(*call);
  if (!key) return call->ReplyError(key.error());
  auto body = call->ReadBody();
  if (!body) return call->ReplyError(body.error());
  std::string value;
  int64_t lease = 0;
  std::optional<int64_t> prev;
  input::Object o(body->root());
  o.Required("value", value)
      .Optional("lease", lease, input::Int(0, INT64_MAX))
      .Optional("prev_revision", prev, input::Int(0, INT64_MAX));
  if (auto done = o.Done(); !done) return call->ReplyError(done.error());
  if (value.size() > store::kMaxValueBytes) {
    return call->ReplyError(
        Error(ErrorCode::kPayloadTooLarge, fmt::format("value of {} bytes exceeds the limit of {}",
                                                       value.size(), store::kMaxValueBytes)));
  }
  store::AsyncTxnStore* async = store::AsyncTxnOf(store);
  if (!prev && !async) {
    auto r = store.Put(*key, value, {.lease = lease});
    if (!r) return call->ReplyError(r.error());
    return call->Reply(200, Json{{"revision", r->revision}});
  }
  // Compare-and-swap: the key's mod_revision must equal prev_revision (0: must not exist).
  store::TxnRequest txn;
  if (prev) {
    txn.compare.push_back({.key = *key,
                           .target = store::Compare::Target::kModRevision,
                           .op = store::Compare::Op::kEqual,
                           .number = *prev});
  }
  txn.success.push_back(store::TxnOp::Put(*key, value, lease));
  // On a back-end that commits on its own thread this returns at once and the answer is
  // sent from there once the write is durable: no thread of ours waits for the fsync.
  auto reply = [call, key = *key, prev](Result<store::TxnResult> r) {
    if (!r) return call->ReplyError(r.error());
    if (!r->succeeded) {
      return call->ReplyError(
          Error(ErrorCode::kFailedPrecondition,
                fmt::format("key \"{}\" changed: its mod_revision is not {}", key, *prev)));
    }
    call->Reply(200, Json{{"revision", r->revision}});
  };
  if (async) return async->TxnAsync(std::move(txn), std::move(reply));
  reply(store.Txn(txn));
}

void Delete(const std::shared_ptr<Call>& call, store::Store& store) {
  auto key = KeyParam(*call);
  if (!key) return call->ReplyError(key.error());
  auto r = store.Delete(*key, {.prefix = call->QueryFlag("prefix")});
  if (!r) return call->ReplyError(r.error());
  call->Reply(200, Json{{"deleted", r->deleted}, {"revision", r->revision}});
}

// Owns the store watch for one streaming response; cancelled when the client goes.
struct WatchStream {
  std::mutex mu;
  std::unique_ptr<store::Watcher> watcher;  // guarded by mu
  bool closed = false;                      // guarded by mu
};

void Watch(const std::shared_ptr<Call>& call, store::Store& store, std::string key) {
  auto revision = call->QueryInt("revision", 0);
  if (!revision) return call->ReplyError(revision.error());
  if (*revision < 0) {
    return call->ReplyError(Error(ErrorCode::kInvalidArgument, "revision must be >= 0"));
  }
  auto state = std::make_shared<WatchStream>();
  // A compacted start is answered with a plain error before the stream starts.
  auto compact = store.CompactRevision();
  if (compact && *revision != 0 && *revision <= *compact) {
    return call->ReplyError(Error(
        ErrorCode::kCompacted,
        fmt::format("revision {} was compacted (compact revision {}); re-list and watch from {}",
                    *revision, *compact, *compact + 1)));
  }
  call->StartStream();
  store::WatchOptions opts{.prefix = call->QueryFlag("prefix"),
                           .start_revision = *revision,
                           .prev_kv = call->QueryFlag("prev_kv")};
  auto w = store.Watch(key, opts, [call](store::WatchResponse&& resp) {
    if (resp.compacted) {
      call->StreamLine(Json{{"error",
                             {{"code", "compacted"},
                              {"message", "watch start revision was compacted"},
                              {"compact_revision", resp.compact_revision}}}});
      call->EndStream();
      return;
    }
    if (resp.canceled) {
      call->StreamLine(Json{{"error", {{"code", "unavailable"}, {"message", resp.cancel_reason}}}});
      call->EndStream();
      return;
    }
    for (const auto& e : resp.events) {
      if (!call->StreamLine(EventJson(e))) return;
    }
  });
  if (!w) {
    call->EndStreamWithError(w.error());
    return;
  }
  {
    std::lock_guard lock(state->mu);
    state->watcher = std::move(*w);
  }
  call->writer()->OnClose([state] {
    std::unique_ptr<store::Watcher> w;
    {
      std::lock_guard lock(state->mu);
      state->closed = true;
      w = std::move(state->watcher);
    }
    if (w) w->Cancel();
  });
}

Result<int64_t> IdParam(const Call& call) {
  const std::string& s = call.Param("id");
  int64_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size() || id <= 0) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("lease id \"{}\" is not a positive integer", s));
  }
  return id;
}

}  // namespace

void RegisterKvEndpoints(Router& router, store::Store& store) {
  const bool reads_inline = store::AsyncReadOf(store) != nullptr;
  router.Add({.method = "GET",
              .pattern = "/v1/kv",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .runs_inline = reads_inline,
              .handler = [&store](std::shared_ptr<Call> call) {
                if (!call->QueryFlag("prefix")) {
                  return call->ReplyError(Error(ErrorCode::kInvalidArgument,
                                                "GET /v1/kv lists every key: add ?prefix"));
                }
                Get(call, store, "");
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/kv/{key...}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .runs_inline = reads_inline,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto key = KeyParam(*call);
                if (!key) return call->ReplyError(key.error());
                Get(call, store, *key);
              }});
  // With a back-end that completes writes on its own thread (sqlite), a put runs on the HTTP
  // worker and is answered from the store's writer: no thread hand-off, no thread waiting.
  router.Add({.method = "PUT",
              .pattern = "/v1/kv/{key...}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .runs_inline = store::AsyncTxnOf(store) != nullptr,
              .handler = [&store](std::shared_ptr<Call> call) { Put(call, store); }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/kv/{key...}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&store](std::shared_ptr<Call> call) { Delete(call, store); }});
  router.Add({.method = "GET",
              .pattern = "/v1/watch",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .handler = [&store](std::shared_ptr<Call> call) { Watch(call, store, ""); }});
  router.Add({.method = "GET",
              .pattern = "/v1/watch/{key...}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto key = KeyParam(*call);
                if (!key) return call->ReplyError(key.error());
                Watch(call, store, *key);
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/leases",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto body = call->ReadBody();
                if (!body) return call->ReplyError(body.error());
                int64_t ttl = 0;  // seconds, as etcd's LeaseGrant
                input::Object o(body->root());
                o.Required("ttl", ttl,
                           input::Int(1, 86400 * 30, "an integer from 1 to 2592000 seconds"));
                if (auto done = o.Done(); !done) return call->ReplyError(done.error());
                auto id = store.GrantLease(ttl);
                if (!id) return call->ReplyError(id.error());
                call->Reply(200, Json{{"id", *id}, {"ttl", ttl}});
              }});
  router.Add({.method = "GET",
              .pattern = "/v1/leases/{id}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto id = IdParam(*call);
                if (!id) return call->ReplyError(id.error());
                auto info = store.LeaseTimeToLive(*id, true);
                if (!info) return call->ReplyError(info.error());
                call->Reply(200, Json{{"id", info->id},
                                      {"ttl", info->ttl},
                                      {"granted_ttl", info->granted_ttl},
                                      {"keys", info->keys}});
              }});
  router.Add({.method = "PUT",
              .pattern = "/v1/leases/{id}/keepalive",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto id = IdParam(*call);
                if (!id) return call->ReplyError(id.error());
                auto ttl = store.KeepAlive(*id);
                if (!ttl) return call->ReplyError(ttl.error());
                call->Reply(200, Json{{"id", *id}, {"ttl", *ttl}});
              }});
  router.Add({.method = "DELETE",
              .pattern = "/v1/leases/{id}",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto id = IdParam(*call);
                if (!id) return call->ReplyError(id.error());
                auto r = store.RevokeLease(*id);
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"id", *id}, {"revoked", true}});
              }});
  router.Add({.method = "POST",
              .pattern = "/v1/compact",
              .access = Access::kCluster,
              .min_role = Role::kAdmin,
              .mutating = true,
              .handler = [&store](std::shared_ptr<Call> call) {
                auto body = call->ReadBody();
                if (!body) return call->ReplyError(body.error());
                int64_t rev = 0;
                input::Object o(body->root());
                o.Required("revision", rev, input::Int(0, INT64_MAX));
                if (auto done = o.Done(); !done) return call->ReplyError(done.error());
                auto r = store.Compact(rev);
                if (!r) return call->ReplyError(r.error());
                call->Reply(200, Json{{"compact_revision", rev}});
              }});
}

}  // namespace berth::api
