// The audit trail: one record per mutating API call (who, what, when, result), kept in the
// store under `/security/audit/<ms:016>-<seq:08>` so records sort by time. Append-only from
// the API's point of view; old records are trimmed by count.
// Thread-safety: safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

namespace berth::security {

struct AuditRecord {
  int64_t time_ms = 0;
  std::string actor;  // token name (or "anonymous")
  std::string token_id;
  std::string action;  // "PUT /v1/kv/apps/x"
  int status = 0;      // HTTP status of the result
  std::string result;  // "ok" or the error message
  std::string remote;  // client address
};

class AuditLog {
 public:
  AuditLog(store::Store& store, Clock& clock) : store_(store), clock_(clock) {}

  Result<void> Record(AuditRecord record);
  // Newest first, at most `limit`.
  Result<std::vector<AuditRecord>> List(int64_t limit) const;

 private:
  store::Store& store_;
  Clock& clock_;
  std::atomic<uint32_t> seq_{0};
};

}  // namespace berth::security
