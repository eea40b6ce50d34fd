#include "store/sqlite/sqlite_db.h"

#include <fmt/core.h>

namespace berth::store::sqlite {

Query::~Query() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Query& Query::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Query& Query::BindBlob(int index, std::string_view value) {
  // A zero-length blob must still be a blob (not NULL): pass a non-null pointer.
  static const char kEmpty = 0;
  sqlite3_bind_blob64(stmt_, index, value.empty() ? &kEmpty : value.data(), value.size(),
                      SQLITE_STATIC);
  return *this;
}

Query& Query::BindText(int index, std::string_view value) {
  sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8);
  return *this;
}

Result<bool> Query::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(db_->MakeError(fmt::format("step `{}`", sqlite3_sql(stmt_))));
}

Result<void> Query::Run() {
  for (;;) {
    auto more = Step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
  }
}

std::string Query::Blob(int column) const { return std::string(BlobView(column)); }

std::string_view Query::BlobView(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return std::string_view(static_cast<const char*>(data), static_cast<size_t>(size));
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, int flags, const char* vfs) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, vfs);
  if (rc != SQLITE_OK) {
    std::string message = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    return Fail(ErrorCode::kUnavailable, fmt::format("open sqlite db {}: {}", path, message));
  }
  sqlite3_extended_result_codes(raw, 1);
  return std::unique_ptr<Db>(new Db(raw, path));
}

Db::~Db() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Result<void> Db::Exec(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string m = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return Fail(rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? ErrorCode::kFailedPrecondition
                                                            : ErrorCode::kInternal,
                fmt::format("sqlite db {}: `{}`: {}", path_, text.substr(0, 60), m));
  }
  return {};
}

Result<void> Db::Run(const char* sql) {
  auto query = Prepare(sql);
  if (!query) return std::unexpected(query.error());
  return query->Run();
}

Result<Query> Db::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(MakeError(fmt::format("prepare `{}`", sql)));
    it = statements_.emplace(sql, stmt).first;
  }
  return Query(*this, it->second);
}

Result<std::string> Db::QueryText(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(MakeError(fmt::format("prepare `{}`", sql)));
  rc = sqlite3_step(stmt);
  std::string out;
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) out = reinterpret_cast<const char*>(text);
  } else if (rc != SQLITE_DONE) {
    Error e = MakeError(fmt::format("run `{}`", sql));
    sqlite3_finalize(stmt);
    return std::unexpected(e);
  }
  sqlite3_finalize(stmt);
  return out;
}

std::string Db::ErrorMessage() const { return sqlite3_errmsg(db_); }

Error Db::MakeError(std::string_view what) const {
  int rc = sqlite3_errcode(db_);
  ErrorCode code = ErrorCode::kInternal;
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      code = ErrorCode::kFailedPrecondition;
      break;
    case SQLITE_FULL:
      code = ErrorCode::kResourceExhausted;
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      code = ErrorCode::kUnavailable;
      break;
    default:
      break;
  }
  return Error(code, fmt::format("sqlite db {}: {}: {}", path_, what, sqlite3_errmsg(db_)));
}

}  // namespace berth::store::sqlite
