#include <archive.h>
#include <archive_entry.h>
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/json.h"
#include "security/scan/advisory.h"

namespace berth::security::scan {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxRecordBytes = 16ull << 20;   // one OSV record
constexpr uint64_t kMaxTrackerBytes = 1ull << 30;   // the whole tracker JSON
constexpr uint64_t kMaxZipTotalBytes = 8ull << 30;  // everything one zip may unpack to
constexpr size_t kMaxZipEntries = 2'000'000;

Error Bad(std::string_view origin, std::string_view where, std::string_view why) {
  return Error(ErrorCode::kInvalidArgument, where.empty()
                                                ? fmt::format("{}: {}", origin, why)
                                                : fmt::format("{}: {}: {}", origin, where, why));
}

// 1-256 printable ASCII characters.
bool PrintableVersion(const std::string& v) {
  return !v.empty() && v.size() <= 256 &&
         std::all_of(v.begin(), v.end(), [](char c) { return c > ' ' && c <= '~'; });
}

// A string field (absent: ""); the wrong type is an error.
Result<std::string> Str(const Json& j, const char* key, std::string_view origin,
                        const std::string& where, bool required = false) {
  if (!j.contains(key)) {
    if (required) return std::unexpected(Bad(origin, where, fmt::format("needs \"{}\"", key)));
    return std::string();
  }
  if (!j[key].is_string()) {
    return std::unexpected(
        Bad(origin, where.empty() ? key : where + "." + key, "must be a string"));
  }
  return j[key].get<std::string>();
}

Result<void> ReadRange(const Json& r, std::string_view origin, const std::string& where,
                       AffectedRange* out) {
  if (!r.is_object()) return std::unexpected(Bad(origin, where, "must be an object"));
  auto type = Str(r, "type", origin, where, true);
  if (!type) return std::unexpected(type.error());
  out->type = *type;
  if (!r.contains("events") || !r["events"].is_array()) {
    return std::unexpected(Bad(origin, where + ".events", "must be a list"));
  }
  size_t k = 0;
  for (const auto& e : r["events"]) {
    std::string w = fmt::format("{}.events[{}]", where, k++);
    if (!e.is_object() || e.size() != 1) {
      return std::unexpected(
          Bad(origin, w, "must be one of {introduced|fixed|last_affected|limit: version}"));
    }
    auto [key, value] = *e.items().begin();
    RangeEvent ev;
    if (key == "introduced") {
      ev.kind = RangeEvent::Kind::kIntroduced;
    } else if (key == "fixed") {
      ev.kind = RangeEvent::Kind::kFixed;
    } else if (key == "last_affected") {
      ev.kind = RangeEvent::Kind::kLastAffected;
    } else if (key == "limit") {
      ev.kind = RangeEvent::Kind::kLimit;
    } else {
      return std::unexpected(
          Bad(origin, w, fmt::format("unknown event \"{}\"", key.substr(0, 40))));
    }
    if (!value.is_string() || !PrintableVersion(value.get<std::string>())) {
      return std::unexpected(Bad(origin, w + "." + key, "must be a version string"));
    }
    ev.version = value.get<std::string>();
    out->events.push_back(std::move(ev));
  }
  return {};
}

Result<void> ReadAffected(const Json& a, std::string_view origin, const std::string& where,
                          Affected* out) {
  if (!a.is_object()) return std::unexpected(Bad(origin, where, "must be an object"));
  if (!a.contains("package") || !a["package"].is_object()) {
    return std::unexpected(Bad(origin, where + ".package", "must be an object"));
  }
  auto eco = Str(a["package"], "ecosystem", origin, where + ".package", true);
  auto name = Str(a["package"], "name", origin, where + ".package", true);
  if (!eco || !name) return std::unexpected(!eco ? eco.error() : name.error());
  if (eco->empty() || name->empty() || name->size() > 512) {
    return std::unexpected(Bad(origin, where + ".package", "needs an ecosystem and a name"));
  }
  out->ecosystem = *eco;
  out->package = *name;
  if (a.contains("ranges")) {
    if (!a["ranges"].is_array())
      return std::unexpected(Bad(origin, where + ".ranges", "must be a list"));
    size_t k = 0;
    for (const auto& r : a["ranges"]) {
      AffectedRange range;
      if (auto x = ReadRange(r, origin, fmt::format("{}.ranges[{}]", where, k++), &range); !x)
        return x;
      if (range.type != "GIT") out->ranges.push_back(std::move(range));
    }
  }
  if (a.contains("versions")) {
    if (!a["versions"].is_array()) {
      return std::unexpected(Bad(origin, where + ".versions", "must be a list of strings"));
    }
    for (const auto& v : a["versions"]) {
      if (!v.is_string() || !PrintableVersion(v.get<std::string>()))
        return std::unexpected(
            Bad(origin, where + ".versions", "must be a list of version strings"));
      out->versions.push_back(v.get<std::string>());
    }
  }
  return {};
}

// Severity: the CVSS vector's score (v3 before v2), else the record's own word for it.
void ReadSeverity(const Json& j, std::string_view origin, Advisory* adv, ReadReport* report) {
  if (j.contains("severity") && j["severity"].is_array()) {
    int best_version = 0;
    for (const auto& s : j["severity"]) {
      if (!s.is_object() || !s.contains("score") || !s["score"].is_string()) continue;
      auto score = ScoreCvss(s["score"].get<std::string>());
      if (!score) {
        if (report)
          report->warnings.push_back(fmt::format("{}: {}", origin, score.error().message));
        continue;
      }
      if (score->version > best_version) {
        best_version = score->version;
        adv->score = score->score;
        adv->severity = score->severity;
        adv->vector = s["score"].get<std::string>();
      }
    }
    if (best_version > 0) return;
  }
  for (const Json* src :
       {&j, j.contains("database_specific") ? &j["database_specific"] : nullptr}) {
    if (src && src->contains("severity") && (*src)["severity"].is_string()) {
      if (auto s = ParseSeverity((*src)["severity"].get<std::string>())) {
        adv->severity = *s;
        return;
      }
    }
  }
}

Result<std::vector<std::string>> Strings(const Json& j, const char* key, std::string_view origin) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  if (!j[key].is_array()) return std::unexpected(Bad(origin, key, "must be a list of strings"));
  for (const auto& v : j[key]) {
    if (!v.is_string()) return std::unexpected(Bad(origin, key, "must be a list of strings"));
    out.push_back(v.get<std::string>());
  }
  return out;
}

bool LooksLikeTracker(const Json& j) {
  if (!j.is_object() || j.contains("id") || j.empty()) return false;
  const Json& first = j.begin().value();
  if (!first.is_object() || first.empty()) return false;
  const Json& cve = first.begin().value();
  return cve.is_object() && cve.contains("releases");
}

Result<std::string> ReadWhole(const std::string& path, uint64_t max) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return Fail(ErrorCode::kNotFound, fmt::format("{}: {}", path, ec.message()));
  if (size > max) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: {} bytes; the limit for one file is {}", path, size, max));
  }
  std::ifstream in(path, std::ios::binary);
  std::string out(size, '\0');
  if (!in.read(out.data(), static_cast<std::streamsize>(size))) {
    return Fail(ErrorCode::kInternal, fmt::format("{}: read failed", path));
  }
  return out;
}

// One JSON text: an OSV record, or the tracker's whole file.
Result<void> ReadJsonText(std::string_view text, std::string_view origin,
                          std::vector<Advisory>* out, ReadReport* report) {
  auto j = ParseJson(text);
  if (!j) return std::unexpected(Bad(origin, "", j.error().message));
  if (LooksLikeTracker(*j)) {
    auto advs = ParseDebianTracker(text, origin, report);
    if (!advs) return std::unexpected(advs.error());
    for (auto& a : *advs) out->push_back(std::move(a));
    return {};
  }
  auto adv = ParseOsvJson(*j, origin, report);
  if (!adv) return std::unexpected(adv.error());
  out->push_back(std::move(*adv));
  return {};
}

Result<void> ReadZip(const std::string& path, std::vector<Advisory>* out, ReadReport* report) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: {}", path, archive_error_string(a.get())));
  }
  archive_entry* e = nullptr;
  uint64_t total = 0;
  size_t entries = 0;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {} (truncated or not a zip?)", path,
                                                           archive_error_string(a.get())));
    }
    if (++entries > kMaxZipEntries) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: more than {} entries", path, kMaxZipEntries));
    }
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    if (archive_entry_filetype(e) != AE_IFREG || !name.ends_with(".json")) continue;
    const std::string origin = fmt::format("{}:{}", path, name);
    std::string text;
    char buf[1 << 16];
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
      if (n < 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: {}", origin, archive_error_string(a.get())));
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
      total += static_cast<uint64_t>(n);
      if (text.size() > kMaxRecordBytes || total > kMaxZipTotalBytes) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: larger than the limit ({} bytes a record, {} a zip)", origin,
                                kMaxRecordBytes, kMaxZipTotalBytes));
      }
    }
    if (auto r2 = ReadJsonText(text, origin, out, report); !r2) return r2;
    ++report->files;
  }
  return {};
}

}  // namespace

Result<Advisory> ParseOsv(std::string_view json, std::string_view origin, ReadReport* report) {
  auto j = ParseJson(json);
  if (!j) return std::unexpected(Bad(origin, "", j.error().message));
  return ParseOsvJson(*j, origin, report);
}

Result<Advisory> ParseOsvJson(const Json& record, std::string_view origin, ReadReport* report) {
  const Json* j = &record;
  if (!j->is_object())
    return std::unexpected(Bad(origin, "", "an OSV record must be a JSON object"));
  Advisory adv;
  auto id = Str(*j, "id", origin, "", true);
  auto modified = Str(*j, "modified", origin, "", true);
  if (!id || !modified) return std::unexpected(!id ? id.error() : modified.error());
  if (id->empty() || id->size() > 128 ||
      std::any_of(id->begin(), id->end(), [](char c) { return c <= ' ' || c > '~'; })) {
    return std::unexpected(Bad(origin, "id", "must be 1-128 printable characters"));
  }
  adv.id = *id;
  adv.modified = *modified;
  for (auto [key, target] : {std::pair{"summary", &adv.summary}, {"published", &adv.published}}) {
    auto v = Str(*j, key, origin, "");
    if (!v) return std::unexpected(v.error());
    *target = v->substr(0, 1024);
  }
  if (adv.summary.empty()) {
    auto details = Str(*j, "details", origin, "");
    if (!details) return std::unexpected(details.error());
    adv.summary = details->substr(0, 200);
  }
  for (const char* key : {"aliases", "upstream"}) {
    auto v = Strings(*j, key, origin);
    if (!v) return std::unexpected(v.error());
    for (auto& s : *v) {
      if (std::find(adv.aliases.begin(), adv.aliases.end(), s) == adv.aliases.end())
        adv.aliases.push_back(std::move(s));
    }
  }
  if (j->contains("affected")) {
    if (!(*j)["affected"].is_array())
      return std::unexpected(Bad(origin, "affected", "must be a list"));
    size_t k = 0;
    for (const auto& a : (*j)["affected"]) {
      Affected aff;
      if (auto r = ReadAffected(a, origin, fmt::format("affected[{}]", k++), &aff); !r)
        return std::unexpected(r.error());
      adv.affected.push_back(std::move(aff));
    }
  }
  if (j->contains("references") && (*j)["references"].is_array()) {
    for (const auto& r : (*j)["references"]) {
      if (r.is_object() && r.contains("url") && r["url"].is_string()) {
        adv.url = r["url"].get<std::string>().substr(0, 1024);
        break;
      }
    }
  }
  ReadSeverity(*j, origin, &adv, report);
  return adv;
}

Result<std::vector<Advisory>> ReadAdvisories(const std::string& path, ReadReport* report) {
  std::vector<Advisory> out;
  std::error_code ec;
  auto st = fs::symlink_status(path, ec);
  if (ec) return Fail(ErrorCode::kNotFound, fmt::format("{}: {}", path, ec.message()));
  if (fs::is_directory(st)) {
    std::vector<std::string> files;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file() && !it->is_symlink() && it->path().extension() == ".json") {
        files.push_back(it->path().string());
      }
    }
    if (ec) return Fail(ErrorCode::kInternal, fmt::format("{}: {}", path, ec.message()));
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: no *.json files in it", path));
    }
    for (const auto& f : files) {
      auto text = ReadWhole(f, kMaxTrackerBytes);
      if (!text) return std::unexpected(text.error());
      if (auto r = ReadJsonText(*text, f, &out, report); !r) return std::unexpected(r.error());
      ++report->files;
    }
    return out;
  }
  if (!fs::is_regular_file(st)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: not a regular file or directory", path));
  }
  if (path.ends_with(".zip")) {
    if (auto r = ReadZip(path, &out, report); !r) return std::unexpected(r.error());
    return out;
  }
  auto text = ReadWhole(path, kMaxTrackerBytes);
  if (!text) return std::unexpected(text.error());
  if (auto r = ReadJsonText(*text, path, &out, report); !r) return std::unexpected(r.error());
  ++report->files;
  return out;
}

}  // namespace berth::security::scan
