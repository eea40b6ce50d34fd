// The configuration center's domain types and store layout, in one place: config items and
// their immutable versions, drafts, gray releases, namespace settings, the change log that
// delivery resumes from, and consumers' acknowledgements. Plain values with their JSON form;
// the keys are exported here so no other component spells them (the orchestrator reads item
// heads for `configs:` as env, the agent names what it mounts).
//
// Store layout (values JSON unless said otherwise):
//   /config/namespaces/<ns>                    NamespaceSettings (+ usage)
//   /config/items/<ns>/<name>                  Item: format, labels, released/latest/gray
//   /config/versions/<ns>/<name>/<%010d>       Version: author, message, time, size, sha256
//   /config/content/<ns>/<name>/<%010d>        the version's bytes, raw (not JSON)
//   /config/drafts/<ns>/<name>                 Draft (its bytes at .../content/<ns>/<name>/draft)
//   /config/log/<ns>/<name>/<%010d seq>        LogEntry: the item's state after one change; the
//                                              key's create_revision is that change's revision
//   /config/acks/<ns>/<name>/<consumer>        Ack: the version a consumer applied
// Item heads sit under one prefix of their own so that one store watch sees every release
// without the content bytes.
// Thread-safety: plain values and pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::config {

using Labels = std::map<std::string, std::string>;

// ---- names and formats -----------------------------------------------------------------

// Item names: 1-253 bytes of [A-Za-z0-9._-], starting with a letter or digit ("app.yaml",
// "feature-flags"). Namespaces are security::ValidateNamespaceName's.
Result<void> ValidateItemName(std::string_view name);
// Label keys and values: keys 1-63 of [A-Za-z0-9._/-], values 0-253 bytes without control
// characters; at most 32 labels.
Result<void> ValidateLabels(const Labels& labels, std::string_view what);

// "k=v,k2=v2" (a query parameter or flag) as labels; the error names `what`.
Result<Labels> ParseLabelList(std::string_view text, std::string_view what);

enum class Format { kYaml, kJson, kProperties, kToml, kText };
std::string_view FormatName(Format f);
Result<Format> ParseFormat(std::string_view name);
// The format a file name implies: .yaml/.yml, .json, .properties, .toml; nullopt otherwise.
std::optional<Format> FormatFromFileName(std::string_view name);

// ---- store keys ------------------------------------------------------------------------

inline constexpr std::string_view kConfigPrefix = "/config/";
inline constexpr std::string_view kNamespacesPrefix = "/config/namespaces/";
inline constexpr std::string_view kItemsPrefix = "/config/items/";
inline constexpr std::string_view kVersionsPrefix = "/config/versions/";
inline constexpr std::string_view kContentPrefix = "/config/content/";
inline constexpr std::string_view kDraftsPrefix = "/config/drafts/";
inline constexpr std::string_view kLogPrefix = "/config/log/";
inline constexpr std::string_view kAcksPrefix = "/config/acks/";

std::string NamespaceKey(std::string_view ns);
std::string ItemKey(std::string_view ns, std::string_view name);
std::string ItemsPrefix(std::string_view ns);  // "/config/items/<ns>/"
std::string VersionKey(std::string_view ns, std::string_view name, int64_t version);
std::string VersionsPrefix(std::string_view ns, std::string_view name);
std::string ContentKey(std::string_view ns, std::string_view name, int64_t version);
std::string DraftContentKey(std::string_view ns, std::string_view name);
std::string ContentPrefix(std::string_view ns, std::string_view name);
std::string DraftKey(std::string_view ns, std::string_view name);
std::string LogKey(std::string_view ns, std::string_view name, int64_t seq);
std::string LogPrefix(std::string_view ns, std::string_view name);
std::string AckKey(std::string_view ns, std::string_view name, std::string_view consumer);
std::string AcksPrefix(std::string_view ns, std::string_view name);
// The trailing number of a version or log key; 0 when the key is not one.
int64_t KeySequence(std::string_view key);
// Splits "/config/items/<ns>/<name>" into {ns, name}; nullopt for another key.
std::optional<std::pair<std::string, std::string>> ParseItemKey(std::string_view key);

// ---- records ---------------------------------------------------------------------------

inline constexpr int64_t kDefaultMaxItemBytes = int64_t{1} << 20;  // 1 MiB
inline constexpr int64_t kHistoryKept = 100;                       // versions per item
inline constexpr int64_t kLogKept = 100;                           // change-log entries per item

// Per namespace: whether publishing needs a second person, and its quota. Usage (`items`,
// `stored_bytes`) is kept in the same record, updated in every write's transaction.
struct NamespaceSettings {
  std::string ns;
  bool review = false;  // the publisher of a draft must not be its author
  int64_t max_items = 1000;
  int64_t max_bytes = int64_t{256} << 20;  // every stored version and draft counts
  int64_t max_item_bytes = kDefaultMaxItemBytes;
  int64_t items = 0;
  int64_t stored_bytes = 0;
  int64_t created_ms = 0;
  std::string created_by;
  bool exists = false;  // read from the store (or the implicit "default")
};

// Who the gray version goes to. Exactly one of: labels (every pair must match the
// instance's labels), explicit instance ids, or a percentage of instances chosen by a stable
// hash of the instance id (the same instances stay in the set as the percentage grows).
struct GraySelector {
  Labels labels;
  std::vector<std::string> instances;
  int percent = 0;  // 1..100; 0: not by percentage

  Result<void> Validate() const;
  bool Matches(std::string_view instance, const Labels& instance_labels) const;
  std::string Describe() const;  // "labels zone=eu-1", "instances a, b", "10% of instances"
  bool operator==(const GraySelector&) const = default;
};
// The stable bucket 0..99 of an instance id for percentage selection (FNV-1a 64).
int GrayBucket(std::string_view instance);

struct Gray {
  int64_t version = 0;
  GraySelector selector;
  int64_t started_ms = 0;
  std::string started_by;
  bool operator==(const Gray&) const = default;
};

// The head of one item: what is released, what is in gray, how many versions.
struct Item {
  std::string ns;
  std::string name;
  Format format = Format::kText;
  Labels labels;
  int64_t released = 0;  // the version everyone outside the gray set gets
  int64_t latest = 0;    // the highest version number given out
  std::optional<Gray> gray;
  int64_t seq = 0;   // changes so far (the change log's last number)
  int64_t size = 0;  // bytes of the released version
  std::string sha256;
  int64_t created_ms = 0;
  std::string created_by;
  int64_t updated_ms = 0;
  std::string updated_by;
  int64_t mod_revision = 0;  // from the store: the revision of the last change

  // The version `instance` (with `labels`) gets: the gray one when it is in the gray set.
  int64_t VersionFor(std::string_view instance, const Labels& labels) const;
};

// How a version came to be.
enum class VersionKind { kPublish, kDraft, kRollback, kImport };
std::string_view VersionKindName(VersionKind k);

// One immutable version's record (its bytes are stored beside it). `gray` and `promoted_ms`
// say how it was released: published to a gray set first (`gray`), and when it went to
// everyone (`promoted_ms`; 0 while gray or after an abort).
struct Version {
  int64_t version = 0;
  std::string author;  // who published it (for a draft: who wrote the draft is draft_author)
  std::string author_token;
  std::string draft_author;
  std::string message;
  int64_t time_ms = 0;
  Format format = Format::kText;
  int64_t size = 0;
  std::string sha256;
  VersionKind kind = VersionKind::kPublish;
  int64_t rollback_of = 0;
  bool gray = false;
  int64_t promoted_ms = 0;
  int64_t aborted_ms = 0;

  // Whether everyone may read it: released to all at some point (not a gray version that was
  // never promoted).
  bool WasReleased() const { return !gray || promoted_ms > 0; }
};

struct Draft {
  std::string ns;
  std::string name;
  std::string author;
  std::string author_token;
  std::string message;
  int64_t time_ms = 0;
  Format format = Format::kText;
  std::optional<Labels> labels;  // labels the publish sets (nullopt: keep the item's)
  int64_t size = 0;
  std::string sha256;
  int64_t base_version = 0;  // the item's latest when the draft was written
};

// One change of an item, as delivery replays it: the item's state after the change.
enum class ChangeKind { kPublish, kGray, kPromote, kAbort, kRollback, kImport, kDelete };
std::string_view ChangeKindName(ChangeKind k);
struct LogEntry {
  int64_t seq = 0;
  ChangeKind kind = ChangeKind::kPublish;
  int64_t released = 0;
  std::optional<Gray> gray;
  int64_t time_ms = 0;
  std::string by;
  int64_t revision = 0;  // from the store: the key's create_revision

  int64_t VersionFor(std::string_view instance, const Labels& labels) const;
};

// What a consumer (an instance's agent, or a program) says it applied.
struct Ack {
  std::string consumer;  // instance id, or the program's own name
  int64_t version = 0;
  int64_t revision = 0;  // the change it applied (its resume point is revision + 1)
  int64_t time_ms = 0;
  std::string node;   // for instances delivered by a node's agent
  std::string error;  // set when the consumer could not apply `version` (it keeps the last)
};

// JSON forms (stored and answered). Decoders refuse what they cannot read.
nlohmann::json ToJson(const NamespaceSettings& s);
Result<NamespaceSettings> NamespaceFromJson(std::string_view ns, std::string_view text);
nlohmann::json ToJson(const GraySelector& s);
Result<GraySelector> GraySelectorFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const Gray& g);
nlohmann::json ToJson(const Item& item);
Result<Item> ItemFromJson(std::string_view ns, std::string_view name, std::string_view text);
nlohmann::json ToJson(const Version& v);
Result<Version> VersionFromJson(std::string_view text);
nlohmann::json ToJson(const Draft& d);
Result<Draft> DraftFromJson(std::string_view ns, std::string_view name, std::string_view text);
nlohmann::json ToJson(const LogEntry& e);
Result<LogEntry> LogEntryFromJson(std::string_view text);
nlohmann::json ToJson(const Ack& a);
Result<Ack> AckFromJson(std::string_view consumer, std::string_view text);

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace berth::config
