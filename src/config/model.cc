#include "config/model.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>

#include "core/json.h"
#include "core/try.h"
#include "core/units.h"

namespace berth::config {
namespace {

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::string Seq(int64_t n) { return fmt::format("{:010d}", n); }

std::string Join(std::string_view a, std::string_view b, std::string_view c) {
  std::string out;
  out.reserve(a.size() + b.size() + c.size() + 1);
  out.append(a).append(b).push_back('/');
  out.append(c);
  return out;
}

// Reads the optional fields of a stored record; a stored record that does not decode is a
// corrupt store, answered as an internal error naming the record.
template <typename T>
T Get(const Json& j, std::string_view key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

Result<Json> ParseRecord(std::string_view text, std::string_view what) {
  auto j = ParseJson(text);
  if (!j || !j->is_object()) {
    return Fail(ErrorCode::kInternal, fmt::format("stored {} does not decode", what));
  }
  return *j;
}

Labels LabelsFrom(const Json& j, std::string_view key) {
  Labels out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

Result<void> ValidateItemName(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("config name {} must be 1 to 253 characters", Quoted(name)));
  }
  const bool first_ok = (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
                        (name[0] >= '0' && name[0] <= '9');
  if (!first_ok || !std::all_of(name.begin(), name.end(), NameChar)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("config name {} may hold only letters, digits, '.', '_' and '-', "
                            "and starts with a letter or digit",
                            Quoted(name)));
  }
  return {};
}

Result<void> ValidateLabels(const Labels& labels, std::string_view what) {
  if (labels.size() > 32) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: {} labels; at most 32", what, labels.size()));
  }
  for (const auto& [k, v] : labels) {
    bool key_ok = !k.empty() && k.size() <= 63 &&
                  std::all_of(k.begin(), k.end(), [](char c) { return NameChar(c) || c == '/'; });
    if (!key_ok) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: label key {} must be 1 to 63 letters, digits, '.', '_', '-' "
                              "or '/'",
                              what, Quoted(k)));
    }
    bool value_ok = v.size() <= 253 && std::none_of(v.begin(), v.end(), [](char c) {
                      return static_cast<unsigned char>(c) < 0x20;
                    });
    if (!value_ok) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: label {} has a value over 253 bytes or with control characters",
                              what, Quoted(k)));
    }
  }
  return {};
}

std::string_view FormatName(Format f) {
  switch (f) {
    case Format::kYaml:
      return "yaml";
    case Format::kJson:
      return "json";
    case Format::kProperties:
      return "properties";
    case Format::kToml:
      return "toml";
    case Format::kText:
      return "text";
  }
  return "text";
}

Result<Format> ParseFormat(std::string_view name) {
  for (Format f :
       {Format::kYaml, Format::kJson, Format::kProperties, Format::kToml, Format::kText}) {
    if (name == FormatName(f)) return f;
  }
  if (name == "yml") return Format::kYaml;
  return Fail(
      ErrorCode::kInvalidArgument,
      fmt::format("format {} is not one of yaml, json, properties, toml, text", Quoted(name)));
}

std::optional<Format> FormatFromFileName(std::string_view name) {
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string ext(name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (ext == "yaml" || ext == "yml") return Format::kYaml;
  if (ext == "json") return Format::kJson;
  if (ext == "properties") return Format::kProperties;
  if (ext == "toml") return Format::kToml;
  return std::nullopt;
}

// ---- keys ------------------------------------------------------------------------------

std::string NamespaceKey(std::string_view ns) { return std::string(kNamespacesPrefix).append(ns); }
std::string ItemKey(std::string_view ns, std::string_view name) {
  return Join(kItemsPrefix, ns, name);
}
std::string ItemsPrefix(std::string_view ns) {
  return std::string(kItemsPrefix).append(ns).append("/");
}
std::string VersionsPrefix(std::string_view ns, std::string_view name) {
  return Join(kVersionsPrefix, ns, name) + "/";
}
std::string VersionKey(std::string_view ns, std::string_view name, int64_t version) {
  return VersionsPrefix(ns, name) + Seq(version);
}
std::string ContentPrefix(std::string_view ns, std::string_view name) {
  return Join(kContentPrefix, ns, name) + "/";
}
std::string ContentKey(std::string_view ns, std::string_view name, int64_t version) {
  return ContentPrefix(ns, name) + Seq(version);
}
std::string DraftContentKey(std::string_view ns, std::string_view name) {
  return ContentPrefix(ns, name) + "draft";
}
std::string DraftKey(std::string_view ns, std::string_view name) {
  return Join(kDraftsPrefix, ns, name);
}
std::string LogPrefix(std::string_view ns, std::string_view name) {
  return Join(kLogPrefix, ns, name) + "/";
}
std::string LogKey(std::string_view ns, std::string_view name, int64_t seq) {
  return LogPrefix(ns, name) + Seq(seq);
}
std::string AcksPrefix(std::string_view ns, std::string_view name) {
  return Join(kAcksPrefix, ns, name) + "/";
}
std::string AckKey(std::string_view ns, std::string_view name, std::string_view consumer) {
  return AcksPrefix(ns, name).append(consumer);
}

int64_t KeySequence(std::string_view key) {
  auto slash = key.rfind('/');
  if (slash == std::string_view::npos) return 0;
  std::string_view tail = key.substr(slash + 1);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), n);
  if (ec != std::errc() || p != tail.data() + tail.size()) return 0;
  return n;
}

std::optional<std::pair<std::string, std::string>> ParseItemKey(std::string_view key) {
  if (!key.starts_with(kItemsPrefix)) return std::nullopt;
  key.remove_prefix(kItemsPrefix.size());
  auto slash = key.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size()) return std::nullopt;
  if (key.find('/', slash + 1) != std::string_view::npos) return std::nullopt;
  return std::pair{std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

// ---- gray ------------------------------------------------------------------------------

int GrayBucket(std::string_view instance) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : instance) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int>(h % 100);
}

Result<void> GraySelector::Validate() const {
  int kinds = (labels.empty() ? 0 : 1) + (instances.empty() ? 0 : 1) + (percent != 0 ? 1 : 0);
  if (kinds != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "a gray release names exactly one of: labels (tags=k=v), instances, or a "
                "percentage");
  }
  if (percent < 0 || percent > 100) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("gray percentage {} must be from 1 to 100", percent));
  }
  if (instances.size() > 1000) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{} gray instances; at most 1000", instances.size()));
  }
  for (const auto& i : instances) {
    if (i.empty() || i.size() > 253) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("gray instance {} must be 1 to 253 bytes", Quoted(i)));
    }
  }
  return ValidateLabels(labels, "gray labels");
}

bool GraySelector::Matches(std::string_view instance, const Labels& instance_labels) const {
  if (instance.empty()) return false;  // an anonymous reader is never in a gray set
  if (percent > 0) return GrayBucket(instance) < percent;
  if (!instances.empty()) {
    return std::find(instances.begin(), instances.end(), instance) != instances.end();
  }
  if (labels.empty()) return false;
  for (const auto& [k, v] : labels) {
    auto it = instance_labels.find(k);
    if (it == instance_labels.end() || it->second != v) return false;
  }
  return true;
}

std::string GraySelector::Describe() const {
  if (percent > 0) return fmt::format("{}% of instances", percent);
  if (!instances.empty()) return fmt::format("instances {}", fmt::join(instances, ", "));
  std::vector<std::string> pairs;
  for (const auto& [k, v] : labels) pairs.push_back(k + "=" + v);
  return fmt::format("labels {}", fmt::join(pairs, ","));
}

int64_t Item::VersionFor(std::string_view instance, const Labels& labels) const {
  if (gray && gray->selector.Matches(instance, labels)) return gray->version;
  return released;
}

int64_t LogEntry::VersionFor(std::string_view instance, const Labels& labels) const {
  if (gray && gray->selector.Matches(instance, labels)) return gray->version;
  return released;
}

std::string_view VersionKindName(VersionKind k) {
  switch (k) {
    case VersionKind::kPublish:
      return "publish";
    case VersionKind::kDraft:
      return "draft";
    case VersionKind::kRollback:
      return "rollback";
    case VersionKind::kImport:
      return "import";
  }
  return "publish";
}

std::string_view ChangeKindName(ChangeKind k) {
  switch (k) {
    case ChangeKind::kPublish:
      return "publish";
    case ChangeKind::kGray:
      return "gray";
    case ChangeKind::kPromote:
      return "promote";
    case ChangeKind::kAbort:
      return "abort";
    case ChangeKind::kRollback:
      return "rollback";
    case ChangeKind::kImport:
      return "import";
    case ChangeKind::kDelete:
      return "delete";
  }
  return "publish";
}

// ---- JSON ------------------------------------------------------------------------------

Json ToJson(const NamespaceSettings& s) {
  return Json{{"namespace", s.ns},
              {"review", s.review},
              {"max_items", s.max_items},
              {"max_bytes", s.max_bytes},
              {"max_item_bytes", s.max_item_bytes},
              {"items", s.items},
              {"stored_bytes", s.stored_bytes},
              {"created_ms", s.created_ms},
              {"created_by", s.created_by}};
}

Result<NamespaceSettings> NamespaceFromJson(std::string_view ns, std::string_view text) {
  Json j = BERTH_TRY(ParseRecord(text, fmt::format("config namespace {}", ns)));
  NamespaceSettings s;
  s.ns = std::string(ns);
  s.review = Get(j, "review", false);
  s.max_items = Get<int64_t>(j, "max_items", s.max_items);
  s.max_bytes = Get<int64_t>(j, "max_bytes", s.max_bytes);
  s.max_item_bytes = Get<int64_t>(j, "max_item_bytes", s.max_item_bytes);
  s.items = Get<int64_t>(j, "items", 0);
  s.stored_bytes = Get<int64_t>(j, "stored_bytes", 0);
  s.created_ms = Get<int64_t>(j, "created_ms", 0);
  s.created_by = Get<std::string>(j, "created_by", "");
  s.exists = true;
  return s;
}

Json ToJson(const GraySelector& s) {
  Json j = Json::object();
  if (!s.labels.empty()) j["labels"] = s.labels;
  if (!s.instances.empty()) j["instances"] = s.instances;
  if (s.percent > 0) j["percent"] = s.percent;
  return j;
}

Result<GraySelector> GraySelectorFromJson(const Json& j) {
  GraySelector s;
  if (!j.is_object()) {
    return Fail(ErrorCode::kInvalidArgument,
                "gray must be an object with one of labels, instances, percent");
  }
  BERTH_TRY(RejectUnknownFields(j, {"labels", "instances", "percent"}, "gray"));
  if (auto it = j.find("labels"); it != j.end()) {
    if (!it->is_object()) return Fail(ErrorCode::kInvalidArgument, "gray.labels must be a map");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("gray.labels.{} must be a string", Quoted(k)));
      }
      s.labels[k] = v.get<std::string>();
    }
  }
  if (auto it = j.find("instances"); it != j.end()) {
    if (!it->is_array()) {
      return Fail(ErrorCode::kInvalidArgument, "gray.instances must be a list of instance ids");
    }
    for (const auto& v : *it) {
      if (!v.is_string()) {
        return Fail(ErrorCode::kInvalidArgument, "gray.instances must be a list of strings");
      }
      s.instances.push_back(v.get<std::string>());
    }
  }
  if (auto it = j.find("percent"); it != j.end()) {
    if (!it->is_number_integer()) {
      return Fail(ErrorCode::kInvalidArgument, "gray.percent must be an integer from 1 to 100");
    }
    int64_t p = it->get<int64_t>();
    if (p < 1 || p > 100) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("gray.percent {} must be from 1 to 100", p));
    }
    s.percent = static_cast<int>(p);
  }
  BERTH_TRY(s.Validate());
  return s;
}

Json ToJson(const Gray& g) {
  return Json{{"version", g.version},
              {"selector", ToJson(g.selector)},
              {"started_ms", g.started_ms},
              {"started_by", g.started_by}};
}

namespace {

std::optional<Gray> GrayFrom(const Json& j) {
  auto it = j.find("gray");
  if (it == j.end() || !it->is_object()) return std::nullopt;
  Gray g;
  g.version = Get<int64_t>(*it, "version", 0);
  g.started_ms = Get<int64_t>(*it, "started_ms", 0);
  g.started_by = Get<std::string>(*it, "started_by", "");
  if (auto s = it->find("selector"); s != it->end()) {
    auto sel = GraySelectorFromJson(*s);
    if (sel) g.selector = std::move(*sel);
  }
  return g;
}

Format FormatFrom(const Json& j) {
  auto f = ParseFormat(Get<std::string>(j, "format", "text"));
  return f ? *f : Format::kText;
}

}  // namespace

Json ToJson(const Item& item) {
  Json j{{"namespace", item.ns},
         {"name", item.name},
         {"format", FormatName(item.format)},
         {"labels", item.labels},
         {"released", item.released},
         {"latest", item.latest},
         {"seq", item.seq},
         {"size", item.size},
         {"sha256", item.sha256},
         {"created_ms", item.created_ms},
         {"created_by", item.created_by},
         {"updated_ms", item.updated_ms},
         {"updated_by", item.updated_by}};
  if (item.gray) j["gray"] = ToJson(*item.gray);
  return j;
}

Result<Item> ItemFromJson(std::string_view ns, std::string_view name, std::string_view text) {
  Json j = BERTH_TRY(ParseRecord(text, fmt::format("config {}/{}", ns, name)));
  Item item;
  item.ns = std::string(ns);
  item.name = std::string(name);
  item.format = FormatFrom(j);
  item.labels = LabelsFrom(j, "labels");
  item.released = Get<int64_t>(j, "released", 0);
  item.latest = Get<int64_t>(j, "latest", 0);
  item.seq = Get<int64_t>(j, "seq", 0);
  item.size = Get<int64_t>(j, "size", 0);
  item.sha256 = Get<std::string>(j, "sha256", "");
  item.created_ms = Get<int64_t>(j, "created_ms", 0);
  item.created_by = Get<std::string>(j, "created_by", "");
  item.updated_ms = Get<int64_t>(j, "updated_ms", 0);
  item.updated_by = Get<std::string>(j, "updated_by", "");
  item.gray = GrayFrom(j);
  return item;
}

Json ToJson(const Version& v) {
  Json j{{"version", v.version},
         {"author", v.author},
         {"message", v.message},
         {"time_ms", v.time_ms},
         {"format", FormatName(v.format)},
         {"size", v.size},
         {"sha256", v.sha256},
         {"kind", VersionKindName(v.kind)}};
  if (!v.author_token.empty()) j["author_token"] = v.author_token;
  if (!v.draft_author.empty()) j["draft_author"] = v.draft_author;
  if (v.rollback_of > 0) j["rollback_of"] = v.rollback_of;
  if (v.gray) j["gray"] = true;
  if (v.promoted_ms > 0) j["promoted_ms"] = v.promoted_ms;
  if (v.aborted_ms > 0) j["aborted_ms"] = v.aborted_ms;
  return j;
}

Result<Version> VersionFromJson(std::string_view text) {
  Json j = BERTH_TRY(ParseRecord(text, "config version"));
  Version v;
  v.version = Get<int64_t>(j, "version", 0);
  v.author = Get<std::string>(j, "author", "");
  v.author_token = Get<std::string>(j, "author_token", "");
  v.draft_author = Get<std::string>(j, "draft_author", "");
  v.message = Get<std::string>(j, "message", "");
  v.time_ms = Get<int64_t>(j, "time_ms", 0);
  v.format = FormatFrom(j);
  v.size = Get<int64_t>(j, "size", 0);
  v.sha256 = Get<std::string>(j, "sha256", "");
  std::string kind = Get<std::string>(j, "kind", "publish");
  for (VersionKind k :
       {VersionKind::kPublish, VersionKind::kDraft, VersionKind::kRollback, VersionKind::kImport}) {
    if (kind == VersionKindName(k)) v.kind = k;
  }
  v.rollback_of = Get<int64_t>(j, "rollback_of", 0);
  v.gray = Get(j, "gray", false);
  v.promoted_ms = Get<int64_t>(j, "promoted_ms", 0);
  v.aborted_ms = Get<int64_t>(j, "aborted_ms", 0);
  return v;
}

Json ToJson(const Draft& d) {
  Json j{{"namespace", d.ns},    {"name", d.name},       {"author", d.author},
         {"message", d.message}, {"time_ms", d.time_ms}, {"format", FormatName(d.format)},
         {"size", d.size},       {"sha256", d.sha256},   {"base_version", d.base_version}};
  if (!d.author_token.empty()) j["author_token"] = d.author_token;
  if (d.labels) j["labels"] = *d.labels;
  return j;
}

Result<Draft> DraftFromJson(std::string_view ns, std::string_view name, std::string_view text) {
  Json j = BERTH_TRY(ParseRecord(text, fmt::format("draft of {}/{}", ns, name)));
  Draft d;
  d.ns = std::string(ns);
  d.name = std::string(name);
  d.author = Get<std::string>(j, "author", "");
  d.author_token = Get<std::string>(j, "author_token", "");
  d.message = Get<std::string>(j, "message", "");
  d.time_ms = Get<int64_t>(j, "time_ms", 0);
  d.format = FormatFrom(j);
  d.size = Get<int64_t>(j, "size", 0);
  d.sha256 = Get<std::string>(j, "sha256", "");
  d.base_version = Get<int64_t>(j, "base_version", 0);
  if (j.contains("labels")) d.labels = LabelsFrom(j, "labels");
  return d;
}

Json ToJson(const LogEntry& e) {
  Json j{{"seq", e.seq},
         {"kind", ChangeKindName(e.kind)},
         {"released", e.released},
         {"time_ms", e.time_ms},
         {"by", e.by}};
  if (e.gray) j["gray"] = ToJson(*e.gray);
  if (e.revision > 0) j["revision"] = e.revision;
  return j;
}

Result<LogEntry> LogEntryFromJson(std::string_view text) {
  Json j = BERTH_TRY(ParseRecord(text, "config change log entry"));
  LogEntry e;
  e.seq = Get<int64_t>(j, "seq", 0);
  std::string kind = Get<std::string>(j, "kind", "publish");
  for (ChangeKind k :
       {ChangeKind::kPublish, ChangeKind::kGray, ChangeKind::kPromote, ChangeKind::kAbort,
        ChangeKind::kRollback, ChangeKind::kImport, ChangeKind::kDelete}) {
    if (kind == ChangeKindName(k)) e.kind = k;
  }
  e.released = Get<int64_t>(j, "released", 0);
  e.time_ms = Get<int64_t>(j, "time_ms", 0);
  e.by = Get<std::string>(j, "by", "");
  e.gray = GrayFrom(j);
  return e;
}

Json ToJson(const Ack& a) {
  Json j{{"consumer", a.consumer},
         {"version", a.version},
         {"revision", a.revision},
         {"time_ms", a.time_ms}};
  if (!a.node.empty()) j["node"] = a.node;
  if (!a.error.empty()) j["error"] = a.error;
  return j;
}

Result<Ack> AckFromJson(std::string_view consumer, std::string_view text) {
  Json j = BERTH_TRY(ParseRecord(text, "config acknowledgement"));
  Ack a;
  a.consumer = std::string(consumer);
  a.version = Get<int64_t>(j, "version", 0);
  a.revision = Get<int64_t>(j, "revision", 0);
  a.time_ms = Get<int64_t>(j, "time_ms", 0);
  a.node = Get<std::string>(j, "node", "");
  a.error = Get<std::string>(j, "error", "");
  return a;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

Result<Labels> ParseLabelList(std::string_view text, std::string_view what) {
  Labels out;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view pair = rest.substr(0, comma);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{} {} must be key=value[,key=value...]", what, Quoted(text)));
    }
    out[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
  }
  return out;
}

}  // namespace berth::config
