#include "config/config_center.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "config/formats.h"
#include "core/input.h"
#include "core/json.h"
#include "core/try.h"
#include "core/units.h"
#include "security/authz.h"

namespace berth::config {
namespace {

using store::Compare;
using store::TxnOp;

constexpr std::string_view kDefaultNamespace = "default";

std::string ItemName(std::string_view ns, std::string_view name) {
  return fmt::format("{}/{}", ns, name);
}

Error NoItem(std::string_view ns, std::string_view name) {
  return Error(ErrorCode::kNotFound,
               fmt::format("config {} does not exist (berth config ls -n {} lists them)",
                           ItemName(ns, name), ns));
}

Error GrayInProgress(const Item& item) {
  return Error(ErrorCode::kFailedPrecondition,
               fmt::format("config {} has a gray release of version {} in progress ({}): promote "
                           "or abort it first (berth config promote|abort {})",
                           ItemName(item.ns, item.name), item.gray->version,
                           item.gray->selector.Describe(), item.name));
}

Compare ModIs(std::string key, int64_t mod) {
  return Compare{.key = std::move(key),
                 .target = Compare::Target::kModRevision,
                 .op = Compare::Op::kEqual,
                 .number = mod};
}

std::string Dump(const Json& j) { return j.dump(); }

Result<void> CheckSize(std::string_view ns, std::string_view name, size_t size,
                       const NamespaceSettings& settings) {
  if (static_cast<int64_t>(size) <= settings.max_item_bytes) return {};
  return Fail(ErrorCode::kPayloadTooLarge,
              fmt::format("config {} is {} bytes ({}); the limit in namespace {} is {} ({})",
                          ItemName(ns, name), size, FormatBytes(static_cast<int64_t>(size)), ns,
                          settings.max_item_bytes, FormatBytes(settings.max_item_bytes)));
}

// After a lost compare-and-swap: wait a little, longer each time and different per thread,
// so writers of one namespace (they all compare its usage record) do not collide again.
void BackOff(int attempt) {
  const auto spread = std::hash<std::thread::id>{}(std::this_thread::get_id()) % 7 + 1;
  std::this_thread::sleep_for(std::chrono::microseconds(40 * (attempt + 1) * spread));
}

}  // namespace

std::string AuthorName(std::string_view token_name, std::string_view token_id) {
  if (!token_name.empty()) return std::string(token_name);
  return fmt::format("token:{}", token_id);
}

// What one write reads, and what it adds to its transaction.
struct ConfigCenter::State {
  std::string ns;
  std::string name;
  NamespaceSettings settings;
  int64_t settings_mod = 0;  // 0: the record is absent (only "default" may be)
  std::optional<Item> item;
  std::optional<Draft> draft;
  int64_t draft_mod = 0;
  // The write:
  std::vector<TxnOp> ops;
  int64_t items_delta = 0;
  int64_t bytes_delta = 0;
  bool touch_settings = false;  // write the namespace record even without a usage change
  int64_t now_ms = 0;
};

ConfigCenter::ConfigCenter(store::Store& store, Clock& clock, ConfigCenterOptions options)
    : store_(store), clock_(clock), options_(options) {}

// ---- namespaces ----------------------------------------------------------------------

Result<NamespaceSettings> ConfigCenter::GetNamespace(std::string_view ns) {
  BERTH_TRY(security::ValidateNamespaceName(ns));
  auto got = BERTH_TRY(store_.Get(NamespaceKey(ns)));
  if (got.kvs.empty()) {
    if (ns == kDefaultNamespace) {
      NamespaceSettings s;
      s.ns = std::string(ns);
      s.exists = true;
      return s;
    }
    return Fail(ErrorCode::kNotFound,
                fmt::format("config namespace {} does not exist; an admin creates it with "
                            "`berth config namespace create {}`",
                            Quoted(ns), ns));
  }
  return NamespaceFromJson(ns, got.kvs[0].value);
}

Result<std::vector<NamespaceSettings>> ConfigCenter::ListNamespaces() {
  auto got = BERTH_TRY(store_.Get(kNamespacesPrefix, {.prefix = true}));
  std::vector<NamespaceSettings> out;
  bool have_default = false;
  for (const auto& kv : got.kvs) {
    std::string ns = kv.key.substr(kNamespacesPrefix.size());
    have_default |= ns == kDefaultNamespace;
    out.push_back(BERTH_TRY(NamespaceFromJson(ns, kv.value)));
  }
  if (!have_default) {
    out.push_back(BERTH_TRY(GetNamespace(kDefaultNamespace)));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.ns < b.ns; });
  }
  return out;
}

Result<WriteResult> ConfigCenter::PutNamespace(const NamespaceSettings& in, const Caller& caller) {
  BERTH_TRY(security::ValidateNamespaceName(in.ns));
  if (in.max_items < 1 || in.max_bytes < 1 || in.max_item_bytes < 1 ||
      in.max_item_bytes > int64_t{store::kMaxValueBytes} - 64 * 1024) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("namespace {}: max_items, max_bytes and max_item_bytes must be "
                            "positive, and max_item_bytes at most {} (the store's value limit)",
                            in.ns, FormatBytes(int64_t{store::kMaxValueBytes} - 64 * 1024)));
  }
  for (int attempt = 0; attempt < options_.retries; ++attempt) {
    auto got = BERTH_TRY(store_.Get(NamespaceKey(in.ns)));
    NamespaceSettings s = in;
    int64_t mod = 0;
    std::string action = "created";
    if (!got.kvs.empty()) {
      auto old = BERTH_TRY(NamespaceFromJson(in.ns, got.kvs[0].value));
      s.items = old.items;
      s.stored_bytes = old.stored_bytes;
      s.created_ms = old.created_ms;
      s.created_by = old.created_by;
      mod = got.kvs[0].mod_revision;
      action = "updated";
    } else {
      s.items = 0;
      s.stored_bytes = 0;
      s.created_ms = clock_.WallMillis();
      s.created_by = caller.name;
    }
    s.exists = true;
    auto r = BERTH_TRY(store_.Txn({.compare = {ModIs(NamespaceKey(in.ns), mod)},
                                   .success = {TxnOp::Put(NamespaceKey(in.ns), Dump(ToJson(s)))}}));
    if (!r.succeeded) continue;
    WriteResult out;
    out.action = action;
    out.revision = r.revision;
    return out;
  }
  return Fail(ErrorCode::kUnavailable, "namespace update kept conflicting; try again");
}

Result<WriteResult> ConfigCenter::DeleteNamespace(std::string_view ns) {
  auto s = BERTH_TRY(GetNamespace(ns));
  auto items = BERTH_TRY(store_.Get(ItemsPrefix(ns), {.prefix = true, .count_only = true}));
  auto drafts = BERTH_TRY(store_.Get(std::string(kDraftsPrefix) + std::string(ns) + "/",
                                     {.prefix = true, .count_only = true}));
  if (items.count > 0 || drafts.count > 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("config namespace {} still holds {} configs and {} drafts; delete "
                            "them first",
                            ns, items.count, drafts.count));
  }
  auto r = BERTH_TRY(store_.Delete(NamespaceKey(ns)));
  WriteResult out;
  out.action = "deleted";
  out.revision = r.revision;
  (void)s;
  return out;
}

// ---- the write path --------------------------------------------------------------------

Result<std::pair<NamespaceSettings, int64_t>> ConfigCenter::ReadSettings(std::string_view ns) {
  auto got = BERTH_TRY(store_.Get(NamespaceKey(ns)));
  if (got.kvs.empty()) return std::pair{BERTH_TRY(GetNamespace(ns)), int64_t{0}};
  return std::pair{BERTH_TRY(NamespaceFromJson(ns, got.kvs[0].value)), got.kvs[0].mod_revision};
}

Result<ConfigCenter::State> ConfigCenter::Read(std::string_view ns, std::string_view name,
                                               bool with_draft) {
  BERTH_TRY(security::ValidateNamespaceName(ns));
  BERTH_TRY(ValidateItemName(name));
  State s;
  s.ns = std::string(ns);
  s.name = std::string(name);
  s.now_ms = clock_.WallMillis();
  std::tie(s.settings, s.settings_mod) = BERTH_TRY(ReadSettings(ns));
  auto head = BERTH_TRY(store_.Get(ItemKey(ns, name)));
  if (!head.kvs.empty()) {
    s.item = BERTH_TRY(ItemFromJson(ns, name, head.kvs[0].value));
    s.item->mod_revision = head.kvs[0].mod_revision;
  }
  if (with_draft) {
    auto d = BERTH_TRY(store_.Get(DraftKey(ns, name)));
    if (!d.kvs.empty()) {
      s.draft = BERTH_TRY(DraftFromJson(ns, name, d.kvs[0].value));
      s.draft_mod = d.kvs[0].mod_revision;
    }
  }
  return s;
}

Result<WriteResult> ConfigCenter::Commit(std::string_view ns, std::string_view name,
                                         bool with_draft,
                                         const std::function<Result<WriteResult>(State&)>& change) {
  for (int attempt = 0; attempt < options_.retries; ++attempt) {
    State s = BERTH_TRY(Read(ns, name, with_draft));
    WriteResult out = BERTH_TRY(change(s));
    if (s.ops.empty()) return out;  // nothing to write ("unchanged")
    NamespaceSettings& q = s.settings;
    if (s.items_delta > 0 && q.items + s.items_delta > q.max_items) {
      return Fail(ErrorCode::kResourceExhausted,
                  fmt::format("config namespace {} holds {} configs, its quota (max_items {}); "
                              "delete some or ask an admin to raise it",
                              ns, q.items, q.max_items));
    }
    if (s.bytes_delta > 0 && q.stored_bytes + s.bytes_delta > q.max_bytes) {
      return Fail(ErrorCode::kResourceExhausted,
                  fmt::format("config namespace {} stores {} of its quota of {} (max_bytes); "
                              "this write needs {} more: delete configs or ask an admin",
                              ns, FormatBytes(q.stored_bytes), FormatBytes(q.max_bytes),
                              FormatBytes(s.bytes_delta)));
    }
    store::TxnRequest txn;
    txn.compare.push_back(ModIs(NamespaceKey(ns), s.settings_mod));
    txn.compare.push_back(ModIs(ItemKey(ns, name), s.item ? s.item->mod_revision : 0));
    if (with_draft) txn.compare.push_back(ModIs(DraftKey(ns, name), s.draft_mod));
    if (s.items_delta != 0 || s.bytes_delta != 0 || s.settings_mod == 0 || s.touch_settings) {
      q.items = std::max<int64_t>(0, q.items + s.items_delta);
      q.stored_bytes = std::max<int64_t>(0, q.stored_bytes + s.bytes_delta);
      if (q.created_ms == 0) q.created_ms = s.now_ms;
      txn.success.push_back(TxnOp::Put(NamespaceKey(ns), Dump(ToJson(q))));
    }
    for (auto& op : s.ops) txn.success.push_back(std::move(op));
    auto r = BERTH_TRY(store_.Txn(txn));
    if (!r.succeeded) {  // someone wrote meanwhile: read again
      BackOff(attempt);
      continue;
    }
    out.revision = r.revision;
    out.item.mod_revision = r.revision;
    return out;
  }
  return Fail(
      ErrorCode::kUnavailable,
      fmt::format("config {}: concurrent writes kept conflicting; try again", ItemName(ns, name)));
}

// Adds the ops that store `content` as the next version and release it (to everyone, or to
// the gray set), plus the change-log entry and the pruning of old versions and entries.
Result<WriteResult> ConfigCenter::Release(State& s, std::string content, Format format,
                                          std::optional<Labels> labels, Version v,
                                          std::optional<GraySelector> gray, ChangeKind kind,
                                          const Caller& caller) {
  const std::string source = ItemName(s.ns, s.name);
  BERTH_TRY(CheckSize(s.ns, s.name, content.size(), s.settings));
  BERTH_TRY(ValidateContent(format, content, source));
  if (labels) BERTH_TRY(ValidateLabels(*labels, source));
  if (s.item && s.item->gray) return std::unexpected(GrayInProgress(*s.item));
  if (gray && (!s.item || s.item->released == 0)) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("config {} has no released version yet: publish it to everyone "
                            "first (a gray release needs a version to fall back to)",
                            source));
  }
  Item item;
  if (s.item) {
    item = *s.item;
  } else {
    item.ns = s.ns;
    item.name = s.name;
    item.created_ms = s.now_ms;
    item.created_by = caller.name;
    item.format = format;
    s.items_delta = 1;
  }
  v.version = item.latest + 1;
  v.time_ms = s.now_ms;
  v.format = format;
  v.size = static_cast<int64_t>(content.size());
  v.sha256 = Sha256Hex(content);
  v.gray = gray.has_value();
  item.latest = v.version;
  item.seq += 1;
  item.updated_ms = s.now_ms;
  item.updated_by = caller.name;
  if (labels) item.labels = *labels;
  if (gray) {
    item.gray = Gray{
        .version = v.version, .selector = *gray, .started_ms = s.now_ms, .started_by = caller.name};
  } else {
    item.released = v.version;
    item.format = format;
    item.size = v.size;
    item.sha256 = v.sha256;
  }
  s.bytes_delta += v.size;
  // Versions past the newest kHistoryKept go, but never the released or gray one.
  auto kept = BERTH_TRY(store_.Get(VersionsPrefix(s.ns, s.name), {.prefix = true}));
  int64_t excess = static_cast<int64_t>(kept.kvs.size()) + 1 - kHistoryKept;
  for (const auto& kv : kept.kvs) {
    if (excess <= 0) break;
    auto old = BERTH_TRY(VersionFromJson(kv.value));
    if (old.version == item.released || (item.gray && old.version == item.gray->version)) continue;
    s.ops.push_back(TxnOp::Delete(kv.key));
    s.ops.push_back(TxnOp::Delete(ContentKey(s.ns, s.name, old.version)));
    s.bytes_delta -= old.size;
    --excess;
  }
  LogEntry entry{.seq = item.seq,
                 .kind = kind,
                 .released = item.released,
                 .gray = item.gray,
                 .time_ms = s.now_ms,
                 .by = caller.name};
  s.ops.push_back(TxnOp::Put(VersionKey(s.ns, s.name, v.version), Dump(ToJson(v))));
  s.ops.push_back(TxnOp::Put(ContentKey(s.ns, s.name, v.version), std::move(content)));
  s.ops.push_back(TxnOp::Put(ItemKey(s.ns, s.name), Dump(ToJson(item))));
  s.ops.push_back(TxnOp::Put(LogKey(s.ns, s.name, item.seq), Dump(ToJson(entry))));
  if (item.seq > kLogKept)
    s.ops.push_back(TxnOp::Delete(LogKey(s.ns, s.name, item.seq - kLogKept)));
  WriteResult out;
  out.action = gray ? "gray" : (kind == ChangeKind::kRollback ? "rolled back" : "published");
  out.item = std::move(item);
  out.version = std::move(v);
  return out;
}

Result<WriteResult> ConfigCenter::Publish(const PublishRequest& req, const Caller& caller) {
  if (req.gray) BERTH_TRY(req.gray->Validate());
  return Commit(req.ns, req.name, req.draft, [&](State& s) -> Result<WriteResult> {
    if (req.expect_latest >= 0) {
      int64_t latest = s.item ? s.item->latest : 0;
      if (latest != req.expect_latest) {
        return Fail(ErrorCode::kFailedPrecondition,
                    fmt::format("config {} is at version {}, not {}: someone published meanwhile "
                                "(read it again)",
                                ItemName(s.ns, s.name), latest, req.expect_latest));
      }
    }
    Format format = req.format.value_or(
        s.item ? s.item->format : FormatFromFileName(req.name).value_or(Format::kText));
    if (req.draft) {
      BERTH_TRY(CheckSize(s.ns, s.name, req.content.size(), s.settings));
      BERTH_TRY(ValidateContent(format, req.content, ItemName(s.ns, s.name)));
      if (req.labels) BERTH_TRY(ValidateLabels(*req.labels, ItemName(s.ns, s.name)));
      Draft d{.ns = s.ns,
              .name = s.name,
              .author = caller.name,
              .author_token = caller.token,
              .message = req.message,
              .time_ms = s.now_ms,
              .format = format,
              .labels = req.labels,
              .size = static_cast<int64_t>(req.content.size()),
              .sha256 = Sha256Hex(req.content),
              .base_version = s.item ? s.item->latest : 0};
      s.bytes_delta = d.size - (s.draft ? s.draft->size : 0);
      s.ops.push_back(TxnOp::Put(DraftKey(s.ns, s.name), Dump(ToJson(d))));
      s.ops.push_back(TxnOp::Put(DraftContentKey(s.ns, s.name), req.content));
      WriteResult out;
      out.action = "drafted";
      if (s.item) out.item = *s.item;
      out.item.ns = s.ns;
      out.item.name = s.name;
      return out;
    }
    if (s.settings.review) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("config namespace {} requires review: save a draft (berth config "
                              "set {} --draft) and let another person publish it (berth config "
                              "publish {})",
                              s.ns, s.name, s.name));
    }
    // The same bytes, format and labels as the released version: nothing to publish.
    if (s.item && !req.gray && !s.item->gray && s.item->released > 0 && s.item->format == format &&
        s.item->sha256 == Sha256Hex(req.content) &&
        (!req.labels || *req.labels == s.item->labels)) {
      WriteResult out;
      out.action = "unchanged";
      out.item = *s.item;
      return out;
    }
    Version v{.author = caller.name, .author_token = caller.token, .message = req.message};
    return Release(s, req.content, format, req.labels, std::move(v), req.gray,
                   req.gray ? ChangeKind::kGray : ChangeKind::kPublish, caller);
  });
}

Result<WriteResult> ConfigCenter::PublishDraft(std::string_view ns, std::string_view name,
                                               std::optional<GraySelector> gray,
                                               std::string message, const Caller& caller) {
  if (gray) BERTH_TRY(gray->Validate());
  return Commit(ns, name, true, [&](State& s) -> Result<WriteResult> {
    if (!s.draft) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("config {} has no draft to publish (berth config set {} --draft "
                              "writes one)",
                              ItemName(ns, name), name));
    }
    const Draft& d = *s.draft;
    if (s.settings.review && (d.author_token == caller.token || d.author == caller.name)) {
      return Fail(ErrorCode::kPermissionDenied,
                  fmt::format("config namespace {} requires review: the draft of {} was written "
                              "by {}, so another person must publish it",
                              ns, name, d.author));
    }
    auto content = BERTH_TRY(store_.Get(DraftContentKey(ns, name)));
    if (content.kvs.empty()) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("the draft of {} has no content stored", ItemName(ns, name)));
    }
    Version v{.author = caller.name,
              .author_token = caller.token,
              .draft_author = d.author,
              .message = message.empty() ? d.message : message,
              .kind = VersionKind::kDraft};
    auto out =
        BERTH_TRY(Release(s, std::move(content.kvs[0].value), d.format, d.labels, std::move(v),
                          gray, gray ? ChangeKind::kGray : ChangeKind::kPublish, caller));
    s.bytes_delta -= d.size;
    s.ops.push_back(TxnOp::Delete(DraftKey(ns, name)));
    s.ops.push_back(TxnOp::Delete(DraftContentKey(ns, name)));
    return out;
  });
}

namespace {

// Reads version `v` of the item (its record), for promote, abort and rollback.
Result<Version> ReadVersionRecord(store::Store& store, std::string_view ns, std::string_view name,
                                  int64_t v) {
  auto got = BERTH_TRY(store.Get(VersionKey(ns, name, v)));
  if (got.kvs.empty()) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("version {} of config {} is not kept (the newest {} are; berth config "
                            "history {} lists them)",
                            v, ItemName(ns, name), kHistoryKept, name));
  }
  return VersionFromJson(got.kvs[0].value);
}

}  // namespace

Result<WriteResult> ConfigCenter::Promote(std::string_view ns, std::string_view name,
                                          const Caller& caller) {
  return EndGray(ns, name, true, caller);
}

Result<WriteResult> ConfigCenter::Abort(std::string_view ns, std::string_view name,
                                        const Caller& caller) {
  return EndGray(ns, name, false, caller);
}

// Promote (the gray version goes to everyone) or abort (the gray set goes back to the
// released version); the gray version's record says which happened and when.
Result<WriteResult> ConfigCenter::EndGray(std::string_view ns, std::string_view name, bool promote,
                                          const Caller& caller) {
  return Commit(ns, name, false, [&](State& s) -> Result<WriteResult> {
    if (!s.item) return std::unexpected(NoItem(ns, name));
    if (!s.item->gray) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("config {} has no gray release to {}", ItemName(ns, name),
                              promote ? "promote" : "abort"));
    }
    Item item = *s.item;
    Version v = BERTH_TRY(ReadVersionRecord(store_, ns, name, item.gray->version));
    if (promote) {
      v.promoted_ms = s.now_ms;
      item.released = v.version;
      item.format = v.format;
      item.size = v.size;
      item.sha256 = v.sha256;
    } else {
      v.aborted_ms = s.now_ms;
    }
    item.gray.reset();
    item.seq += 1;
    item.updated_ms = s.now_ms;
    item.updated_by = caller.name;
    LogEntry entry{.seq = item.seq,
                   .kind = promote ? ChangeKind::kPromote : ChangeKind::kAbort,
                   .released = item.released,
                   .time_ms = s.now_ms,
                   .by = caller.name};
    s.ops.push_back(TxnOp::Put(VersionKey(ns, name, v.version), Dump(ToJson(v))));
    s.ops.push_back(TxnOp::Put(ItemKey(ns, name), Dump(ToJson(item))));
    s.ops.push_back(TxnOp::Put(LogKey(ns, name, item.seq), Dump(ToJson(entry))));
    if (item.seq > kLogKept) s.ops.push_back(TxnOp::Delete(LogKey(ns, name, item.seq - kLogKept)));
    WriteResult out;
    out.action = promote ? "promoted" : "aborted";
    out.item = std::move(item);
    out.version = std::move(v);
    return out;
  });
}

Result<WriteResult> ConfigCenter::Rollback(std::string_view ns, std::string_view name, int64_t to,
                                           std::string message, const Caller& caller) {
  return Commit(ns, name, false, [&](State& s) -> Result<WriteResult> {
    if (!s.item) return std::unexpected(NoItem(ns, name));
    if (to < 1 || to > s.item->latest) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("config {} has versions 1 to {}; there is no version {}",
                              ItemName(ns, name), s.item->latest, to));
    }
    Version old = BERTH_TRY(ReadVersionRecord(store_, ns, name, to));
    auto content = BERTH_TRY(store_.Get(ContentKey(ns, name, to)));
    if (content.kvs.empty()) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("version {} of {} has no content stored", to, ItemName(ns, name)));
    }
    Version v{.author = caller.name,
              .author_token = caller.token,
              .message = message.empty() ? fmt::format("rollback to version {}", to) : message,
              .kind = VersionKind::kRollback,
              .rollback_of = to};
    return Release(s, std::move(content.kvs[0].value), old.format, std::nullopt, std::move(v),
                   std::nullopt, ChangeKind::kRollback, caller);
  });
}

Result<WriteResult> ConfigCenter::Delete(std::string_view ns, std::string_view name,
                                         const Caller& caller) {
  return Commit(ns, name, true, [&](State& s) -> Result<WriteResult> {
    if (!s.item && !s.draft) return std::unexpected(NoItem(ns, name));
    auto versions = BERTH_TRY(store_.Get(VersionsPrefix(ns, name), {.prefix = true}));
    for (const auto& kv : versions.kvs) {
      auto v = BERTH_TRY(VersionFromJson(kv.value));
      s.bytes_delta -= v.size;
    }
    if (s.draft) s.bytes_delta -= s.draft->size;
    if (s.item) s.items_delta = -1;
    s.touch_settings = true;
    for (const std::string& prefix : {VersionsPrefix(ns, name), ContentPrefix(ns, name),
                                      LogPrefix(ns, name), AcksPrefix(ns, name)}) {
      s.ops.push_back(TxnOp::Delete(prefix, /*prefix=*/true));
    }
    s.ops.push_back(TxnOp::Delete(DraftKey(ns, name)));
    s.ops.push_back(TxnOp::Delete(ItemKey(ns, name)));
    WriteResult out;
    out.action = "deleted";
    if (s.item) out.item = *s.item;
    out.item.ns = s.ns;
    out.item.name = s.name;
    (void)caller;
    return out;
  });
}

Result<void> ConfigCenter::DeleteDraft(std::string_view ns, std::string_view name) {
  auto r = BERTH_TRY(Commit(ns, name, true, [&](State& s) -> Result<WriteResult> {
    if (!s.draft) {
      return Fail(ErrorCode::kNotFound, fmt::format("config {} has no draft", ItemName(ns, name)));
    }
    s.bytes_delta = -s.draft->size;
    s.ops.push_back(TxnOp::Delete(DraftKey(ns, name)));
    s.ops.push_back(TxnOp::Delete(DraftContentKey(ns, name)));
    return WriteResult{.action = "deleted"};
  }));
  (void)r;
  return {};
}

// ---- reads -----------------------------------------------------------------------------

Result<Item> ConfigCenter::Get(std::string_view ns, std::string_view name) {
  BERTH_TRY(security::ValidateNamespaceName(ns));
  BERTH_TRY(ValidateItemName(name));
  auto got = BERTH_TRY(store_.Get(ItemKey(ns, name)));
  if (got.kvs.empty()) {
    BERTH_TRY(GetNamespace(ns));  // an unknown namespace says so
    return std::unexpected(NoItem(ns, name));
  }
  Item item = BERTH_TRY(ItemFromJson(ns, name, got.kvs[0].value));
  item.mod_revision = got.kvs[0].mod_revision;
  return item;
}

Result<ItemList> ConfigCenter::List(std::string_view ns, const ListOptions& o) {
  BERTH_TRY(GetNamespace(ns));
  const std::string prefix = ItemsPrefix(ns);
  auto got = BERTH_TRY(store_.Get(prefix + o.prefix, {.prefix = true}));
  ItemList out;
  out.revision = got.revision;
  for (const auto& kv : got.kvs) {
    std::string name = kv.key.substr(prefix.size());
    Item item = BERTH_TRY(ItemFromJson(ns, name, kv.value));
    item.mod_revision = kv.mod_revision;
    bool match = std::all_of(o.labels.begin(), o.labels.end(), [&](const auto& p) {
      auto it = item.labels.find(p.first);
      return it != item.labels.end() && it->second == p.second;
    });
    if (!match) continue;
    ++out.total;
    if (!o.after.empty() && name <= o.after) continue;
    if (o.limit > 0 && static_cast<int64_t>(out.items.size()) >= o.limit) {
      out.next = out.items.back().name;
      continue;
    }
    out.items.push_back(std::move(item));
  }
  return out;
}

Result<std::string> ConfigCenter::ReadContent(std::string_view ns, std::string_view name,
                                              int64_t version) {
  auto got = BERTH_TRY(store_.Get(ContentKey(ns, name, version)));
  if (got.kvs.empty()) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("version {} of config {} is not kept", version, ItemName(ns, name)));
  }
  return std::move(got.kvs[0].value);
}

Result<VersionContent> ConfigCenter::ReadVersion(std::string_view ns, std::string_view name,
                                                 int64_t version, const Caller& caller) {
  VersionContent out;
  out.item = BERTH_TRY(Get(ns, name));
  if (version == 0) version = out.item.released;
  if (version < 1 || version > out.item.latest) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("config {} has versions 1 to {}; there is no version {}",
                            ItemName(ns, name), out.item.latest, version));
  }
  out.version = BERTH_TRY(ReadVersionRecord(store_, ns, name, version));
  if (!out.version.WasReleased() && !caller.may_read_unreleased) {
    return Fail(ErrorCode::kPermissionDenied,
                fmt::format("version {} of config {} was released to a gray set only; reading it "
                            "by number needs operator in {} (instances in the gray set get it "
                            "by instance)",
                            version, ItemName(ns, name), ns));
  }
  out.content = BERTH_TRY(ReadContent(ns, name, version));
  return out;
}

Result<VersionContent> ConfigCenter::ReadFor(std::string_view ns, std::string_view name,
                                             std::string_view instance, const Labels& labels) {
  VersionContent out;
  out.item = BERTH_TRY(Get(ns, name));
  int64_t version = out.item.VersionFor(instance, labels);
  out.version = BERTH_TRY(ReadVersionRecord(store_, ns, name, version));
  out.content = BERTH_TRY(ReadContent(ns, name, version));
  return out;
}

Result<std::pair<Draft, std::string>> ConfigCenter::ReadDraft(std::string_view ns,
                                                              std::string_view name) {
  BERTH_TRY(GetNamespace(ns));
  BERTH_TRY(ValidateItemName(name));
  auto d = BERTH_TRY(store_.Get(DraftKey(ns, name)));
  if (d.kvs.empty()) {
    return Fail(ErrorCode::kNotFound, fmt::format("config {} has no draft", ItemName(ns, name)));
  }
  Draft draft = BERTH_TRY(DraftFromJson(ns, name, d.kvs[0].value));
  auto c = BERTH_TRY(store_.Get(DraftContentKey(ns, name)));
  return std::pair{std::move(draft), c.kvs.empty() ? std::string() : std::move(c.kvs[0].value)};
}

Result<std::vector<Version>> ConfigCenter::History(std::string_view ns, std::string_view name,
                                                   int64_t limit) {
  BERTH_TRY(Get(ns, name));
  auto got = BERTH_TRY(store_.Get(VersionsPrefix(ns, name), {.prefix = true}));
  std::vector<Version> out;
  for (auto it = got.kvs.rbegin(); it != got.kvs.rend(); ++it) {
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
    out.push_back(BERTH_TRY(VersionFromJson(it->value)));
  }
  return out;
}

Result<DiffResult> ConfigCenter::Diff(std::string_view ns, std::string_view name, int64_t from,
                                      int64_t to, const Caller& caller) {
  auto a = BERTH_TRY(ReadVersion(ns, name, from, caller));
  auto b = BERTH_TRY(ReadVersion(ns, name, to, caller));
  DiffResult out;
  out.from = a.version.version;
  out.to = b.version.version;
  out.format_changed = a.version.format != b.version.format;
  out.diff = DiffLines(a.content, b.content, fmt::format("{}@{}", name, out.from),
                       fmt::format("{}@{}", name, out.to));
  return out;
}

// ---- delivery ----------------------------------------------------------------------------

Result<LogReplay> ConfigCenter::ReadLog(std::string_view ns, std::string_view name,
                                        int64_t from_revision) {
  LogReplay out;
  auto got = BERTH_TRY(store_.Get(LogPrefix(ns, name), {.prefix = true}));
  out.revision = got.revision;
  auto head =
      BERTH_TRY(store_.Get(ItemKey(ns, name), {.revision = got.revision, .count_only = true}));
  out.deleted = head.count == 0;
  int64_t first_seq = 0;
  for (const auto& kv : got.kvs) {
    LogEntry e = BERTH_TRY(LogEntryFromJson(kv.value));
    e.revision = kv.create_revision;
    if (first_seq == 0) first_seq = e.seq;
    if (e.revision < from_revision) {
      out.before = std::move(e);
    } else {
      out.entries.push_back(std::move(e));
    }
  }
  // The entry before the first one kept is gone: if nothing kept is older than the resume
  // point, changes between it and the first kept entry may have been pruned.
  out.complete = out.before.has_value() || first_seq <= 1;
  return out;
}

Result<int64_t> ConfigCenter::Acknowledge(std::string_view ns, std::string_view name,
                                          const Ack& ack) {
  Item item = BERTH_TRY(Get(ns, name));
  if (ack.consumer.empty() || ack.consumer.size() > 253 ||
      ack.consumer.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("consumer {} must be 1 to 253 bytes without '/'", Quoted(ack.consumer)));
  }
  if (ack.version < 1 || ack.version > item.latest) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("config {} has versions 1 to {}; a consumer cannot have applied "
                            "version {}",
                            ItemName(ns, name), item.latest, ack.version));
  }
  Ack a = ack;
  a.time_ms = clock_.WallMillis();
  auto r = BERTH_TRY(store_.Put(AckKey(ns, name, a.consumer), Dump(ToJson(a))));
  return r.revision;
}

Result<std::vector<Ack>> ConfigCenter::Acks(std::string_view ns, std::string_view name) {
  BERTH_TRY(Get(ns, name));
  auto got = BERTH_TRY(store_.Get(AcksPrefix(ns, name), {.prefix = true}));
  std::vector<Ack> out;
  const std::string prefix = AcksPrefix(ns, name);
  for (const auto& kv : got.kvs) {
    out.push_back(BERTH_TRY(AckFromJson(kv.key.substr(prefix.size()), kv.value)));
  }
  return out;
}

Result<void> ConfigCenter::ForgetAck(std::string_view ns, std::string_view name,
                                     std::string_view consumer) {
  BERTH_TRY(store_.Delete(AckKey(ns, name, consumer)));
  return {};
}

// ---- export and import -------------------------------------------------------------------

Result<std::string> ConfigCenter::Export(std::string_view ns) {
  BERTH_TRY(GetNamespace(ns));
  auto heads = BERTH_TRY(store_.Get(ItemsPrefix(ns), {.prefix = true}));
  Json configs = Json::array();
  const std::string prefix = ItemsPrefix(ns);
  for (const auto& kv : heads.kvs) {
    std::string name = kv.key.substr(prefix.size());
    Item item = BERTH_TRY(ItemFromJson(ns, name, kv.value));
    if (item.released == 0) continue;
    // Read at the listing's revision: one consistent snapshot of the namespace.
    auto c =
        BERTH_TRY(store_.Get(ContentKey(ns, name, item.released), {.revision = heads.revision}));
    if (c.kvs.empty()) continue;
    configs.push_back(Json{{"name", name},
                           {"format", FormatName(item.format)},
                           {"labels", item.labels},
                           {"version", item.released},
                           {"content", c.kvs[0].value}});
  }
  Json doc{{"namespace", ns}, {"revision", heads.revision}, {"configs", std::move(configs)}};
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

namespace {

struct ImportEntry {
  std::string name;
  std::optional<Format> format;
  std::optional<Labels> labels;
  std::string content;
};

Result<std::vector<ImportEntry>> ReadImport(std::string_view text) {
  auto doc = BERTH_TRY(input::Parse(text, "import file", {.max_bytes = 64 << 20}));
  std::vector<ImportEntry> entries;
  input::Object o(doc.root());
  o.Ignore({"namespace", "revision"});  // an export of one namespace imports into any other
  o.Required("configs", entries, input::ListOf([](const input::Node& n) -> Result<ImportEntry> {
               ImportEntry e;
               input::Object c(n);
               c.Required("name", e.name);
               c.Optional("format", e.format, [](const input::Node& f) -> Result<Format> {
                 auto r = ParseFormat(f.text());
                 if (!r) return std::unexpected(f.Invalid(r.error().message));
                 return *r;
               });
               c.Optional("labels", e.labels, input::MapOf(input::String));
               c.Ignore({"version"});
               c.Required("content", e.content);
               BERTH_TRY(c.Done());
               if (auto v = ValidateItemName(e.name); !v) {
                 return std::unexpected(n.Invalid(v.error().message));
               }
               return e;
             }));
  BERTH_TRY(o.Done());
  return entries;
}

}  // namespace

Result<ImportResult> ConfigCenter::Import(std::string_view ns, std::string_view text, bool dry_run,
                                          const Caller& caller) {
  auto entries = BERTH_TRY(ReadImport(text));
  for (size_t i = 0; i < entries.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (entries[i].name == entries[j].name) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("import file: configs[{}]: {} is given twice (configs[{}])", i,
                                Quoted(entries[i].name), j));
      }
    }
  }
  for (int attempt = 0; attempt < options_.retries; ++attempt) {
    ImportResult out;
    out.dry_run = dry_run;
    store::TxnRequest txn;
    auto [settings, settings_mod] = BERTH_TRY(ReadSettings(ns));
    if (settings.review && !entries.empty()) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("config namespace {} requires review: an import would publish "
                              "without one; import into a namespace without review, or write "
                              "drafts",
                              ns));
    }
    int64_t items_delta = 0, bytes_delta = 0;
    txn.compare.push_back(ModIs(NamespaceKey(ns), settings_mod));
    for (const ImportEntry& e : entries) {
      State s = BERTH_TRY(Read(ns, e.name, false));
      s.settings = settings;
      Format format = e.format.value_or(
          s.item ? s.item->format : FormatFromFileName(e.name).value_or(Format::kText));
      txn.compare.push_back(ModIs(ItemKey(ns, e.name), s.item ? s.item->mod_revision : 0));
      if (s.item && s.item->released > 0 && s.item->format == format &&
          s.item->sha256 == Sha256Hex(e.content) && (!e.labels || *e.labels == s.item->labels)) {
        out.items.push_back({e.name, "unchanged", s.item->released});
        continue;
      }
      Version v{.author = caller.name,
                .author_token = caller.token,
                .message = "import",
                .kind = VersionKind::kImport};
      auto w = Release(s, e.content, format, e.labels, std::move(v), std::nullopt,
                       ChangeKind::kImport, caller);
      if (!w) return std::unexpected(Wrap(w.error(), "import " + e.name));
      out.items.push_back({e.name, s.item ? "configured" : "created", w->version->version});
      items_delta += s.items_delta;
      bytes_delta += s.bytes_delta;
      for (auto& op : s.ops) txn.success.push_back(std::move(op));
    }
    if (settings.items + items_delta > settings.max_items && items_delta > 0) {
      return Fail(ErrorCode::kResourceExhausted,
                  fmt::format("import: config namespace {} would hold {} configs; its quota is {}",
                              ns, settings.items + items_delta, settings.max_items));
    }
    if (bytes_delta > 0 && settings.stored_bytes + bytes_delta > settings.max_bytes) {
      return Fail(ErrorCode::kResourceExhausted,
                  fmt::format("import: config namespace {} would store {}; its quota is {}", ns,
                              FormatBytes(settings.stored_bytes + bytes_delta),
                              FormatBytes(settings.max_bytes)));
    }
    if (dry_run || txn.success.empty()) {
      auto rev = BERTH_TRY(store_.CurrentRevision());
      out.revision = rev;
      return out;
    }
    settings.items += items_delta;
    settings.stored_bytes = std::max<int64_t>(0, settings.stored_bytes + bytes_delta);
    if (settings.created_ms == 0) settings.created_ms = clock_.WallMillis();
    txn.success.push_back(TxnOp::Put(NamespaceKey(ns), Dump(ToJson(settings))));
    auto r = BERTH_TRY(store_.Txn(txn));
    if (!r.succeeded) {
      BackOff(attempt);
      continue;
    }
    out.revision = r.revision;
    return out;
  }
  return Fail(ErrorCode::kUnavailable, "import kept conflicting with other writes; try again");
}

}  // namespace berth::config
