// TempSqliteStore: the real embedded store (sqlite back-end) in a fresh temporary directory,
// for unit tests of the code above the store. The store is closed and the directory removed
// when the object goes away.
//
// Usage in a fixture:
//   auto t = store::TempSqliteStore::Open("controller-test", clock_);
//   ASSERT_TRUE(t) << t.error().message;
//   temp_ = std::move(*t);
//   ... temp_->store() ...
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/error.h"
#include "store/sqlite/sqlite_store.h"

namespace berth::store {

class TempSqliteStore {
 public:
  // Opens <tmp>/berth-<prefix>-XXXXXX/store.db. Tests do not need a crash-safe store, so
  // the default options turn durability off.
  static Result<std::unique_ptr<TempSqliteStore>> Open(std::string_view prefix, Clock& clock,
                                                       SqliteOptions options = {.durable = false});

  ~TempSqliteStore();
  TempSqliteStore(const TempSqliteStore&) = delete;
  TempSqliteStore& operator=(const TempSqliteStore&) = delete;

  Store& store() { return *store_; }
  const std::string& dir() const { return dir_; }

 private:
  TempSqliteStore(std::string dir, std::unique_ptr<Store> store);

  std::string dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace berth::store
