#include "security/audit.h"

#include <fmt/core.h>

#include "core/json.h"
#include "core/log.h"

namespace berth::security {
namespace {
constexpr std::string_view kPrefix = kAuditKeyPrefix;
constexpr uint64_t kTrimEvery = 1024;  // records between trims
}  // namespace

AuditLog::AuditLog(store::Store& store, Clock& clock, AuditOptions options)
    : store_(store), clock_(clock), options_(options) {
  writer_ = std::thread([this] { WriterLoop(); });
}

AuditLog::~AuditLog() { Close(); }

std::string EncodeAuditRecord(const AuditRecord& record) {
  // By hand in Json's key order; through Json when a string is not UTF-8 (it replaces).
  std::string out;
  out.reserve(128 + record.action.size() + record.result.size());
  bool ok = true;
  out += R"({"action":)";
  ok = ok && AppendJsonString(out, record.action);
  out += R"(,"actor":)";
  ok = ok && AppendJsonString(out, record.actor);
  out += R"(,"remote":)";
  ok = ok && AppendJsonString(out, record.remote);
  out += R"(,"result":)";
  ok = ok && AppendJsonString(out, record.result);
  fmt::format_to(std::back_inserter(out), R"(,"status":{},"time_ms":{},"token_id":)", record.status,
                 record.time_ms);
  ok = ok && AppendJsonString(out, record.token_id);
  out += '}';
  return ok ? out : EncodeAuditRecordViaJson(record);
}

std::string EncodeAuditRecordViaJson(const AuditRecord& record) {
  Json j{{"time_ms", record.time_ms}, {"actor", record.actor},   {"token_id", record.token_id},
         {"action", record.action},   {"status", record.status}, {"result", record.result},
         {"remote", record.remote}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<void> AuditLog::Record(AuditRecord record) {
  if (record.time_ms == 0) record.time_ms = clock_.WallMillis();
  Queued q;
  q.value = EncodeAuditRecord(record);
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      ++stats_.lost;
      return Fail(ErrorCode::kUnavailable, "audit log is closed");
    }
    if (queue_.size() >= options_.max_queue) {
      ++stats_.lost;
      return Fail(
          ErrorCode::kResourceExhausted,
          fmt::format("audit queue full ({} records waiting for the store)", queue_.size()));
    }
    q.seq = next_seq_++;
    q.time_ms = record.time_ms;
    queue_.push_back(std::move(q));
  }
  work_cv_.notify_one();
  return {};
}

Result<void> AuditLog::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const uint64_t target = next_seq_ - 1;
  bool done =
      done_cv_.wait_for(lock, timeout, [&] { return written_seq_ >= target || writer_done_; });
  if (!done || written_seq_ < target) {
    return Fail(ErrorCode::kDeadlineExceeded,
                fmt::format("audit records not yet stored after {} ms", timeout.count()));
  }
  return {};
}

void AuditLog::Close() {
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      // A second caller (the destructor after an explicit Close) still waits for the join.
    } else {
      closing_ = true;
      close_deadline_ = std::chrono::steady_clock::now() + options_.close_timeout;
    }
  }
  work_cv_.notify_all();
  if (writer_.joinable() && writer_.get_id() != std::this_thread::get_id()) writer_.join();
}

AuditStats AuditLog::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void AuditLog::WriterLoop() {
  std::vector<Queued> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) break;  // closing and nothing left
      if (closing_ && std::chrono::steady_clock::now() > close_deadline_) {
        // The store did not keep up before the deadline: give up on the rest, loudly.
        log::Error("audit", "closing: {} audit records not stored (store too slow)", queue_.size());
        stats_.lost += static_cast<int64_t>(queue_.size());
        written_seq_ = queue_.back().seq;
        queue_.clear();
        break;
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    Store(batch);
    batch.clear();
  }
  {
    std::lock_guard lock(mu_);
    writer_done_ = true;
  }
  done_cv_.notify_all();
}

void AuditLog::Store(std::vector<Queued>& batch) {
  const uint64_t last = batch.back().seq;
  // One key per batch, named by its first record and holding them all, oldest first: a
  // record costs the store a few hundred bytes of one row, not a row, an index entry and a
  // tombstone of its own.
  std::string key = fmt::format("{}{:016d}-{:08d}+{}", kPrefix, batch.front().time_ms,
                                batch.front().seq % 100'000'000, batch.size());
  size_t size = 2;
  for (const auto& q : batch) size += q.value.size() + 1;
  std::string value;
  value.reserve(size);
  value.push_back('[');
  for (const auto& q : batch) {
    if (value.size() > 1) value.push_back(',');
    value += q.value;
  }
  value.push_back(']');
  store::TxnRequest txn;
  txn.success.push_back(store::TxnOp::Put(std::move(key), std::move(value)));
  auto r = store_.Txn(txn);
  if (!r) {
    log::Error("audit", "{} audit records lost: {}", batch.size(), r.error().message);
  }
  bool trim = false;
  {
    std::lock_guard lock(mu_);
    if (r) {
      const uint64_t before = static_cast<uint64_t>(stats_.recorded) / kTrimEvery;
      stats_.recorded += static_cast<int64_t>(batch.size());
      trim = static_cast<uint64_t>(stats_.recorded) / kTrimEvery != before;
    } else {
      stats_.lost += static_cast<int64_t>(batch.size());
    }
    ++stats_.batches;
    written_seq_ = last;
  }
  done_cv_.notify_all();
  if (trim) Trim();
}

namespace {
// Records under one key: `+<n>` ends a batch's key; keys of one record each (written before
// batching) have no count.
int64_t RecordsIn(std::string_view key) {
  auto plus = key.rfind('+');
  if (plus == std::string_view::npos) return 1;
  int64_t n = 0;
  for (char c : key.substr(plus + 1)) {
    if (c < '0' || c > '9') return 1;
    n = n * 10 + (c - '0');
  }
  return n > 0 ? n : 1;
}
}  // namespace

// Drops the oldest keys while the newer ones still hold at least `keep` records.
void AuditLog::Trim() {
  auto keys = store_.Get(kPrefix, {.prefix = true, .keys_only = true});
  if (!keys) return;
  int64_t newer = 0;
  for (size_t i = keys->kvs.size(); i-- > 0;) {
    if (newer >= options_.keep) {
      (void)store_.Delete(kPrefix, {.range_end = keys->kvs[i].key + '\0'});
      return;
    }
    newer += RecordsIn(keys->kvs[i].key);
  }
}

Result<std::vector<AuditRecord>> AuditLog::List(int64_t limit) {
  if (auto f = Flush(); !f) {
    log::Warn("audit", "listing before every queued record is stored: {}", f.error().message);
  }
  auto got = store_.Get(kPrefix, {.prefix = true});
  if (!got) return std::unexpected(Wrap(got.error(), "list audit records"));
  std::vector<AuditRecord> out;
  auto take = [&](const Json& j) {
    if (!j.is_object() || static_cast<int64_t>(out.size()) >= limit) return;
    AuditRecord r;
    r.time_ms = j.value("time_ms", int64_t{0});
    r.actor = j.value("actor", std::string());
    r.token_id = j.value("token_id", std::string());
    r.action = j.value("action", std::string());
    r.status = j.value("status", 0);
    r.result = j.value("result", std::string());
    r.remote = j.value("remote", std::string());
    out.push_back(std::move(r));
  };
  for (auto it = got->kvs.rbegin(); it != got->kvs.rend() && int64_t(out.size()) < limit; ++it) {
    auto j = ParseJson(it->value);
    if (!j) continue;
    if (j->is_array()) {
      for (auto e = j->rbegin(); e != j->rend(); ++e) take(*e);
    } else {
      take(*j);
    }
  }
  return out;
}

}  // namespace berth::security
