// The scanner's advisory database: a SQLite file of its own (<data-dir>/security/
// advisories.db; its decision note, docs/decisions/*-advisory-database.md, says why not the
// MVCC store).
// Advisories by id, their affected (ecosystem, package) rows indexed for lookup, and the
// import history (when, from what, how many) that every report shows.
//
// Import is all or nothing: one transaction, after every record of the input has been read
// and checked (advisory.h); a record already present is replaced by the one imported. Every
// import raises the database's generation, which tells scanners their results are stale.
//
// Thread-safety: every method may be called from any thread (one connection, one mutex;
// lookups are microseconds each).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "security/scan/advisory.h"

namespace berth::security::scan {

struct DbStatus {
  int64_t advisories = 0;
  int64_t affected = 0;  // (advisory, package) rows
  int64_t generation = 0;
  int64_t imported_ms = 0;                                  // the last import (0: never)
  std::string last_source;                                  // what it imported
  std::vector<std::pair<std::string, int64_t>> ecosystems;  // rows per ecosystem
};

struct ImportResult {
  size_t advisories = 0;
  size_t affected = 0;
  size_t files = 0;
  int64_t generation = 0;
  int64_t imported_ms = 0;
  std::vector<std::string> warnings;
};

// One advisory row that names a package (what the matcher needs).
struct AdvisoryHit {
  std::string id;
  std::string summary;
  std::vector<std::string> aliases;
  Severity severity = Severity::kUnknown;
  double score = 0;
  std::string url;
  std::vector<AffectedRange> ranges;
  std::vector<std::string> versions;
};

class AdvisoryDb {
 public:
  static Result<std::unique_ptr<AdvisoryDb>> Open(const std::string& path);
  ~AdvisoryDb();
  AdvisoryDb(const AdvisoryDb&) = delete;
  AdvisoryDb& operator=(const AdvisoryDb&) = delete;

  // Stores `advisories` in one transaction (replacing records with the same id) and raises
  // the generation; on any error nothing is stored.
  Result<ImportResult> Import(const std::vector<Advisory>& advisories, std::string_view source,
                              int64_t now_ms);
  Result<DbStatus> Status();
  // Every advisory row naming `package` in `ecosystem` (exact names; PyPI names normalized):
  // id, ranges and versions only (what deciding a match needs).
  // Decoded rows are cached until the next import (a warm scan reads no SQL).
  Result<std::shared_ptr<const std::vector<AdvisoryHit>>> Lookup(std::string_view ecosystem,
                                                                 std::string_view package);
  // The rest of an advisory (summary, aliases, severity, score, url) into `hit`.
  Result<void> Describe(AdvisoryHit* hit);
  int64_t generation();

  // PyPI names compare normalized (PEP 503): lower case, runs of "-_." as "-".
  static std::string NormalizeName(std::string_view ecosystem, std::string_view name);

 private:
  explicit AdvisoryDb(sqlite3* db) : db_(db) {}
  Result<void> Exec(const char* sql);
  Result<int64_t> MetaInt(const char* key);

  std::mutex mu_;
  sqlite3* db_;                       // guarded by mu_
  sqlite3_stmt* lookup_ = nullptr;    // guarded by mu_
  sqlite3_stmt* describe_ = nullptr;  // guarded by mu_
  int64_t generation_ = 0;            // guarded by mu_
  static constexpr size_t kMaxCached = 50000;
  // (ecosystem, package) -> its rows, for the current generation; guarded by mu_.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const std::vector<AdvisoryHit>>>
      cache_;
};

}  // namespace berth::security::scan
