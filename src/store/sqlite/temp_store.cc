#include "store/sqlite/temp_store.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace berth::store {

Result<std::unique_ptr<TempSqliteStore>> TempSqliteStore::Open(std::string_view prefix,
                                                               Clock& clock,
                                                               SqliteOptions options) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / ("berth-" + std::string(prefix) + "-XXXXXX"))
          .string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return Fail(ErrorCode::kInternal, fmt::format("mkdtemp {}: {}", tmpl, std::strerror(errno)));
  }
  auto s = OpenSqliteStore(tmpl + "/store.db", options, clock);
  if (!s) {
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
    return std::unexpected(s.error());
  }
  return std::unique_ptr<TempSqliteStore>(new TempSqliteStore(tmpl, std::move(*s)));
}

TempSqliteStore::TempSqliteStore(std::string dir, std::unique_ptr<Store> store)
    : dir_(std::move(dir)), store_(std::move(store)) {}

TempSqliteStore::~TempSqliteStore() {
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace berth::store
