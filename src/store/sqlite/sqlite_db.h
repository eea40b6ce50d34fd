// Thin RAII wrappers over the SQLite C API for the sqlite Store back-end: a connection that
// caches prepared statements, and a statement handle that resets itself after use.
// Internal to store/sqlite. Thread-safety: a Db (and its statements) is used by one thread at
// a time; connections are opened with SQLITE_OPEN_NOMUTEX.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/error.h"

namespace berth::store::sqlite {

class Db;

// A prepared statement in use: binds, steps, reads columns; resets and clears its bindings
// when it goes out of scope so no read transaction stays open.
class Query {
 public:
  Query(Db& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  Query(Query&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;

  Query& Bind(int index, int64_t value);
  Query& BindBlob(int index, std::string_view value);
  Query& BindText(int index, std::string_view value);

  // Steps once: true with a row, false when done; an error names the statement.
  Result<bool> Step();
  // Steps to the end (for statements that return no rows).
  Result<void> Run();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Blob(int column) const;
  std::string_view BlobView(int column) const;  // valid until the next Step

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens `path` with `flags` (SQLITE_OPEN_*) through the VFS named `vfs` (null: the
  // default); NOMUTEX is added.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, int flags,
                                          const char* vfs = nullptr);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  Result<void> Exec(std::string_view sql);
  // Returns the cached prepared statement for `sql` (a string with static storage: the
  // pointer is the cache key).
  Result<Query> Prepare(const char* sql);
  // Runs one statement without results and without parameters through the statement cache
  // (for statements run many times: SAVEPOINT, RELEASE, BEGIN, COMMIT).
  Result<void> Run(const char* sql);
  // Runs a single-value query ("PRAGMA journal_mode=WAL") and returns the first column.
  Result<std::string> QueryText(std::string_view sql);

  std::string ErrorMessage() const;
  Error MakeError(std::string_view what) const;
  sqlite3* raw() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace berth::store::sqlite
