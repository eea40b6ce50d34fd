#include "security/audit.h"

#include <fmt/core.h>

#include "core/json.h"

namespace berth::security {
namespace {
constexpr std::string_view kPrefix = "/security/audit/";
constexpr int64_t kKeep = 10'000;  // records kept; older ones are trimmed
}  // namespace

Result<void> AuditLog::Record(AuditRecord record) {
  if (record.time_ms == 0) record.time_ms = clock_.WallMillis();
  uint32_t seq = seq_.fetch_add(1);
  std::string key = fmt::format("{}{:016d}-{:08d}", kPrefix, record.time_ms, seq % 100'000'000);
  Json j{{"time_ms", record.time_ms}, {"actor", record.actor},   {"token_id", record.token_id},
         {"action", record.action},   {"status", record.status}, {"result", record.result},
         {"remote", record.remote}};
  auto r = store_.Put(key, j.dump());
  if (!r) return std::unexpected(Wrap(r.error(), "write audit record"));
  // Trim now and then: every 1024th record, drop the oldest beyond kKeep.
  if (seq % 1024 == 1023) {
    auto count = store_.Get(kPrefix, {.prefix = true, .count_only = true});
    if (count && count->count > kKeep) {
      auto oldest =
          store_.Get(kPrefix, {.prefix = true, .limit = count->count - kKeep, .keys_only = true});
      if (oldest && !oldest->kvs.empty()) {
        store_.Delete(kPrefix, {.range_end = oldest->kvs.back().key + '\0'});
      }
    }
  }
  return {};
}

Result<std::vector<AuditRecord>> AuditLog::List(int64_t limit) const {
  auto got = store_.Get(kPrefix, {.prefix = true});
  if (!got) return std::unexpected(Wrap(got.error(), "list audit records"));
  std::vector<AuditRecord> out;
  for (auto it = got->kvs.rbegin(); it != got->kvs.rend() && int64_t(out.size()) < limit; ++it) {
    auto j = ParseJson(it->value);
    if (!j) continue;
    AuditRecord r;
    r.time_ms = j->value("time_ms", int64_t{0});
    r.actor = j->value("actor", std::string());
    r.token_id = j->value("token_id", std::string());
    r.action = j->value("action", std::string());
    r.status = j->value("status", 0);
    r.result = j->value("result", std::string());
    r.remote = j->value("remote", std::string());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace berth::security
