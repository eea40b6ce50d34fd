#include "security/scan/advisory_db.h"

#include <fmt/core.h>

namespace berth::security::scan {
namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisory(
  id TEXT PRIMARY KEY, summary TEXT NOT NULL, aliases TEXT NOT NULL, published TEXT NOT NULL,
  modified TEXT NOT NULL, severity INTEGER NOT NULL, score REAL NOT NULL, vector TEXT NOT NULL,
  url TEXT NOT NULL, source TEXT NOT NULL, imported_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS affected(
  advisory TEXT NOT NULL, ecosystem TEXT NOT NULL, package TEXT NOT NULL,
  ranges TEXT NOT NULL, versions TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS affected_by_package ON affected(ecosystem, package);
CREATE INDEX IF NOT EXISTS affected_by_advisory ON affected(advisory);
)sql";

// A statement for one use; finalized when it goes.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() const { return s_; }
  Stmt& Text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Real(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

std::string Col(sqlite3_stmt* s, int i) {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

// Ranges as compact text, quick to read back on every lookup: ranges separated by RS (0x1e),
// a range's type and its events separated by US (0x1f), each event a kind letter (i, f, l, m)
// and its version. Versions are printable (ParseOsv refuses others), so no separator occurs
// in them.
std::string EncodeRanges(const std::vector<AffectedRange>& ranges) {
  static constexpr char kKinds[] = {'i', 'f', 'l', 'm'};
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out += '\x1e';
    out += r.type;
    for (const auto& e : r.events) {
      out += '\x1f';
      out += kKinds[static_cast<int>(e.kind)];
      out += e.version;
    }
  }
  return out;
}

std::vector<AffectedRange> DecodeRanges(std::string_view text) {
  std::vector<AffectedRange> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\x1e', pos);
    std::string_view r = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    AffectedRange range;
    size_t at = 0;
    bool first = true;
    while (at <= r.size()) {
      size_t us = r.find('\x1f', at);
      std::string_view part = r.substr(at, us == std::string_view::npos ? us : us - at);
      at = us == std::string_view::npos ? r.size() + 1 : us + 1;
      if (first) {
        range.type = std::string(part);
        first = false;
        continue;
      }
      if (part.empty()) continue;
      RangeEvent ev;
      ev.kind = part[0] == 'f'   ? RangeEvent::Kind::kFixed
                : part[0] == 'l' ? RangeEvent::Kind::kLastAffected
                : part[0] == 'm' ? RangeEvent::Kind::kLimit
                                 : RangeEvent::Kind::kIntroduced;
      ev.version = std::string(part.substr(1));
      range.events.push_back(std::move(ev));
    }
    out.push_back(std::move(range));
  }
  return out;
}

std::string JoinLines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    out.emplace_back(text.substr(pos, nl == std::string_view::npos ? nl : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
  }
  return out;
}

}  // namespace

std::string AdvisoryDb::NormalizeName(std::string_view ecosystem, std::string_view name) {
  if (ecosystem != "PyPI") return std::string(name);
  std::string out;
  bool sep = false;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      sep = true;
      continue;
    }
    if (sep && !out.empty()) out += '-';
    sep = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

Result<std::unique_ptr<AdvisoryDb>> AdvisoryDb::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Fail(ErrorCode::kInternal, fmt::format("advisory database {}: {}", path, why));
  }
  std::unique_ptr<AdvisoryDb> out(new AdvisoryDb(db));
  sqlite3_busy_timeout(db, 10000);
  if (auto r = out->Exec(kSchema); !r) {
    return std::unexpected(Wrap(r.error(), "advisory database " + path));
  }
  sqlite3_prepare_v2(db,
                     "SELECT advisory, ranges, versions FROM affected "
                     "WHERE ecosystem = ? AND package = ?",
                     -1, &out->lookup_, nullptr);
  sqlite3_prepare_v2(db, "SELECT summary, aliases, severity, score, url FROM advisory WHERE id = ?",
                     -1, &out->describe_, nullptr);
  auto gen = out->MetaInt("generation");
  if (!gen) return std::unexpected(gen.error());
  out->generation_ = *gen;
  return out;
}

AdvisoryDb::~AdvisoryDb() {
  sqlite3_finalize(lookup_);
  sqlite3_finalize(describe_);
  sqlite3_close(db_);
}

Result<void> AdvisoryDb::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return Fail(ErrorCode::kInternal, why);
  }
  return {};
}

Result<int64_t> AdvisoryDb::MetaInt(const char* key) {
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?");
  s.Text(1, key);
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return std::stoll(Col(s.get(), 0));
  if (rc == SQLITE_DONE) return 0;
  return Fail(ErrorCode::kInternal, fmt::format("advisory database: {}", sqlite3_errmsg(db_)));
}

Result<ImportResult> AdvisoryDb::Import(const std::vector<Advisory>& advisories,
                                        std::string_view source, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (auto r = Exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error());
  ImportResult out;
  auto fail = [&](std::string_view what) -> Result<ImportResult> {
    std::string why = fmt::format("import {}: {}: {}", source, what, sqlite3_errmsg(db_));
    (void)Exec("ROLLBACK");
    return Fail(ErrorCode::kInternal, why);
  };
  {
    Stmt del(db_, "DELETE FROM affected WHERE advisory = ?");
    Stmt put(db_,
             "INSERT OR REPLACE INTO advisory(id, summary, aliases, published, modified, severity, "
             "score, vector, url, source, imported_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
    Stmt aff(db_,
             "INSERT INTO affected(advisory, ecosystem, package, ranges, versions) "
             "VALUES(?,?,?,?,?)");
    for (const auto& a : advisories) {
      del.Text(1, a.id);
      if (sqlite3_step(del.get()) != SQLITE_DONE) return fail(a.id);
      sqlite3_reset(del.get());
      put.Text(1, a.id).Text(2, a.summary).Text(3, JoinLines(a.aliases)).Text(4, a.published);
      put.Text(5, a.modified).Int(6, static_cast<int64_t>(a.severity)).Real(7, a.score);
      put.Text(8, a.vector).Text(9, a.url).Text(10, source).Int(11, now_ms);
      if (sqlite3_step(put.get()) != SQLITE_DONE) return fail(a.id);
      sqlite3_reset(put.get());
      for (const auto& f : a.affected) {
        aff.Text(1, a.id).Text(2, f.ecosystem).Text(3, NormalizeName(f.ecosystem, f.package));
        aff.Text(4, EncodeRanges(f.ranges)).Text(5, JoinLines(f.versions));
        if (sqlite3_step(aff.get()) != SQLITE_DONE) return fail(a.id);
        sqlite3_reset(aff.get());
        ++out.affected;
      }
      ++out.advisories;
    }
    Stmt meta(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
    for (auto [k, v] :
         {std::pair<std::string, std::string>{"generation", std::to_string(generation_ + 1)},
          {"imported_ms", std::to_string(now_ms)},
          {"last_source", std::string(source)}}) {
      meta.Text(1, k).Text(2, v);
      if (sqlite3_step(meta.get()) != SQLITE_DONE) return fail("meta");
      sqlite3_reset(meta.get());
    }
  }
  if (auto r = Exec("COMMIT"); !r) {
    (void)Exec("ROLLBACK");
    return std::unexpected(r.error());
  }
  out.generation = ++generation_;
  cache_.clear();
  out.imported_ms = now_ms;
  return out;
}

Result<DbStatus> AdvisoryDb::Status() {
  std::lock_guard lock(mu_);
  DbStatus s;
  s.generation = generation_;
  auto imported = MetaInt("imported_ms");
  if (!imported) return std::unexpected(imported.error());
  s.imported_ms = *imported;
  {
    Stmt q(db_, "SELECT value FROM meta WHERE key = 'last_source'");
    if (sqlite3_step(q.get()) == SQLITE_ROW) s.last_source = Col(q.get(), 0);
  }
  {
    Stmt q(db_, "SELECT (SELECT count(*) FROM advisory), (SELECT count(*) FROM affected)");
    if (sqlite3_step(q.get()) == SQLITE_ROW) {
      s.advisories = sqlite3_column_int64(q.get(), 0);
      s.affected = sqlite3_column_int64(q.get(), 1);
    }
  }
  Stmt q(db_, "SELECT ecosystem, count(*) FROM affected GROUP BY ecosystem ORDER BY ecosystem");
  while (sqlite3_step(q.get()) == SQLITE_ROW) {
    s.ecosystems.emplace_back(Col(q.get(), 0), sqlite3_column_int64(q.get(), 1));
  }
  return s;
}

int64_t AdvisoryDb::generation() {
  std::lock_guard lock(mu_);
  return generation_;
}

Result<std::shared_ptr<const std::vector<AdvisoryHit>>> AdvisoryDb::Lookup(
    std::string_view ecosystem, std::string_view package) {
  std::lock_guard lock(mu_);
  std::string name = NormalizeName(ecosystem, package);
  auto key = std::make_pair(std::string(ecosystem), name);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  sqlite3_bind_text(lookup_, 1, ecosystem.data(), static_cast<int>(ecosystem.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_text(lookup_, 2, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  std::vector<AdvisoryHit> out;
  int rc;
  while ((rc = sqlite3_step(lookup_)) == SQLITE_ROW) {
    AdvisoryHit h;
    h.id = Col(lookup_, 0);
    h.ranges = DecodeRanges(Col(lookup_, 1));
    auto versions = reinterpret_cast<const char*>(sqlite3_column_text(lookup_, 2));
    if (versions && *versions) h.versions = SplitLines(versions);
    out.push_back(std::move(h));
  }
  sqlite3_reset(lookup_);
  if (rc != SQLITE_DONE) {
    return Fail(ErrorCode::kInternal, fmt::format("advisory lookup: {}", sqlite3_errmsg(db_)));
  }
  auto shared = std::make_shared<const std::vector<AdvisoryHit>>(std::move(out));
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_.emplace(std::move(key), shared);
  return shared;
}

Result<void> AdvisoryDb::Describe(AdvisoryHit* hit) {
  std::lock_guard lock(mu_);
  sqlite3_bind_text(describe_, 1, hit->id.data(), static_cast<int>(hit->id.size()),
                    SQLITE_TRANSIENT);
  int rc = sqlite3_step(describe_);
  if (rc == SQLITE_ROW) {
    hit->summary = Col(describe_, 0);
    hit->aliases = SplitLines(Col(describe_, 1));
    hit->severity = static_cast<Severity>(sqlite3_column_int64(describe_, 2));
    hit->score = sqlite3_column_double(describe_, 3);
    hit->url = Col(describe_, 4);
  }
  sqlite3_reset(describe_);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return Fail(ErrorCode::kInternal, fmt::format("advisory {}: {}", hit->id, sqlite3_errmsg(db_)));
  }
  return {};
}

}  // namespace berth::security::scan
