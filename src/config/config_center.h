// ConfigCenter: every read and write of config items over the Store (layout in model.h).
// Each write is one transaction that compares the item's head and its namespace's record,
// so a version is stored whole or not at all (a control plane killed mid-publish leaves
// the previous state), concurrent writers retry on a fresh read, and quota usage never
// drifts from what is stored. Every change of what consumers get (publish, gray, promote,
// abort, rollback, import, delete) appends one change-log entry in the same transaction;
// delivery (delivery_hub.h) replays that log to consumers that resume.
//
// Checks that need the caller (`Caller`): the review rule (the publisher of a draft is not
// its author) and reading versions that were never released to everyone. Role checks are
// the API's (viewers read, operators write).
// Thread-safety: all methods from any thread; state lives in the store.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/model.h"
#include "config/text_diff.h"
#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

namespace berth::config {

struct Caller {
  std::string name;   // shown as author ("alice", or "token:<id>")
  std::string token;  // the token id, for the review rule
  // Operator (or more) in the namespace: may read versions never released to everyone.
  bool may_read_unreleased = false;
};

struct PublishRequest {
  std::string ns;
  std::string name;
  std::string content;
  std::optional<Format> format;  // a new item: this, else the name's extension, else text
  std::optional<Labels> labels;  // nullopt: keep the item's
  std::string message;
  bool draft = false;                // store as the item's draft instead of publishing
  std::optional<GraySelector> gray;  // publish to a gray set only
  int64_t expect_latest = -1;        // >= 0: the item's latest version must be this (0: new)
};

struct WriteResult {
  // "published", "unchanged", "drafted", "gray", "promoted", "aborted", "rolled back",
  // "deleted", "created" (namespace), "updated" (namespace)
  std::string action;
  Item item;
  std::optional<Version> version;  // the version written (or, unchanged, the released one)
  int64_t revision = 0;
};

struct ListOptions {
  std::string prefix;  // names starting with this
  Labels labels;       // every pair must match
  int64_t limit = 0;   // 0: all
  std::string after;   // names after this one (the previous page's `next`)
};
struct ItemList {
  std::vector<Item> items;
  std::string next;   // non-empty: more items after this name
  int64_t total = 0;  // items matching the filter
  int64_t revision = 0;
};

struct VersionContent {
  Item item;
  Version version;
  std::string content;
};

struct DiffResult {
  int64_t from = 0;
  int64_t to = 0;
  TextDiff diff;
  bool format_changed = false;
};

// One entry of an import file and what the import does with it.
struct ImportAction {
  std::string name;
  std::string action;  // "created", "configured", "unchanged"
  int64_t version = 0;
};
struct ImportResult {
  std::vector<ImportAction> items;
  int64_t revision = 0;
  bool dry_run = false;
};

// The change log of one item for a consumer resuming from `from_revision`.
struct LogReplay {
  std::vector<LogEntry> entries;   // revision >= from_revision, in order
  std::optional<LogEntry> before;  // the last entry before from_revision, if kept
  bool complete = true;            // false: entries after `before` were pruned
  bool deleted = false;            // the item does not exist (any more)
  int64_t revision = 0;            // store revision of the read
};

struct ConfigCenterOptions {
  int retries = 64;  // compare-and-swap attempts before a write gives up (kUnavailable)
};

class ConfigCenter {
 public:
  ConfigCenter(store::Store& store, Clock& clock, ConfigCenterOptions options = {});

  // ---- namespaces (global admin in the API) ----
  // Creates or updates a namespace's settings (review, limits); usage is kept.
  Result<WriteResult> PutNamespace(const NamespaceSettings& settings, const Caller& caller);
  // The settings; "default" exists without being created. kNotFound otherwise.
  Result<NamespaceSettings> GetNamespace(std::string_view ns);
  Result<std::vector<NamespaceSettings>> ListNamespaces();
  // Only an empty namespace (no items, no drafts) may go.
  Result<WriteResult> DeleteNamespace(std::string_view ns);

  // ---- items ----
  // Publishes (or drafts, or gray-publishes) one version. Publishing what is released already
  // (same bytes, format and labels) is "unchanged" and stores nothing.
  Result<WriteResult> Publish(const PublishRequest& request, const Caller& caller);
  // Publishes the item's draft (to everyone, or to `gray`); under review the caller must not
  // be the draft's author.
  Result<WriteResult> PublishDraft(std::string_view ns, std::string_view name,
                                   std::optional<GraySelector> gray, std::string message,
                                   const Caller& caller);
  Result<WriteResult> Promote(std::string_view ns, std::string_view name, const Caller& caller);
  Result<WriteResult> Abort(std::string_view ns, std::string_view name, const Caller& caller);
  // A new version equal to `to` (bytes and format), released to everyone.
  Result<WriteResult> Rollback(std::string_view ns, std::string_view name, int64_t to,
                               std::string message, const Caller& caller);
  // The item, its versions, draft, change log and acknowledgements.
  Result<WriteResult> Delete(std::string_view ns, std::string_view name, const Caller& caller);
  Result<void> DeleteDraft(std::string_view ns, std::string_view name);

  Result<Item> Get(std::string_view ns, std::string_view name);
  Result<ItemList> List(std::string_view ns, const ListOptions& options);
  // One version with its bytes (0: the released one).
  Result<VersionContent> ReadVersion(std::string_view ns, std::string_view name, int64_t version,
                                     const Caller& caller);
  // What `instance` (with `labels`) gets: the gray version inside the gray set, the
  // released one otherwise.
  Result<VersionContent> ReadFor(std::string_view ns, std::string_view name,
                                 std::string_view instance, const Labels& labels);
  Result<std::pair<Draft, std::string>> ReadDraft(std::string_view ns, std::string_view name);
  // Newest first; at most `limit` (0: all kept).
  Result<std::vector<Version>> History(std::string_view ns, std::string_view name,
                                       int64_t limit = 0);
  Result<DiffResult> Diff(std::string_view ns, std::string_view name, int64_t from, int64_t to,
                          const Caller& caller);

  // ---- a namespace as one file ----
  // {"namespace","revision","configs":[{"name","format","labels","version","content"}]}: the
  // released version of every item.
  Result<std::string> Export(std::string_view ns);
  // The same document (JSON or YAML), all or nothing in one transaction: every entry is
  // checked (name, format, content, size, quota) before anything is written; items not in
  // the file stay as they are.
  Result<ImportResult> Import(std::string_view ns, std::string_view text, bool dry_run,
                              const Caller& caller);

  // ---- delivery ----
  Result<LogReplay> ReadLog(std::string_view ns, std::string_view name, int64_t from_revision);
  Result<std::string> ReadContent(std::string_view ns, std::string_view name, int64_t version);
  Result<int64_t> Acknowledge(std::string_view ns, std::string_view name, const Ack& ack);
  Result<std::vector<Ack>> Acks(std::string_view ns, std::string_view name);
  Result<void> ForgetAck(std::string_view ns, std::string_view name, std::string_view consumer);

  store::Store& store() { return store_; }

 private:
  struct State;
  // The namespace's settings and their record's mod_revision (0: implicit "default").
  Result<std::pair<NamespaceSettings, int64_t>> ReadSettings(std::string_view ns);
  Result<State> Read(std::string_view ns, std::string_view name, bool with_draft);
  Result<WriteResult> Commit(std::string_view ns, std::string_view name, bool with_draft,
                             const std::function<Result<WriteResult>(State&)>& change);
  Result<WriteResult> EndGray(std::string_view ns, std::string_view name, bool promote,
                              const Caller& caller);
  Result<WriteResult> Release(State& s, std::string content, Format format,
                              std::optional<Labels> labels, Version v,
                              std::optional<GraySelector> gray, ChangeKind kind,
                              const Caller& caller);

  store::Store& store_;
  Clock& clock_;
  ConfigCenterOptions options_;
};

// The caller's name as an author: the token's name, or "token:<id>" without one.
std::string AuthorName(std::string_view token_name, std::string_view token_id);

}  // namespace berth::config
