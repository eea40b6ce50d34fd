#include "security/audit.h"

#include <fmt/core.h>

#include "core/json.h"
#include "core/log.h"

namespace berth::security {
namespace {
constexpr std::string_view kPrefix = "/security/audit/";
constexpr uint64_t kTrimEvery = 1024;  // records between trims
}  // namespace

AuditLog::AuditLog(store::Store& store, Clock& clock, AuditOptions options)
    : store_(store), clock_(clock), options_(options) {
  writer_ = std::thread([this] { WriterLoop(); });
}

AuditLog::~AuditLog() { Close(); }

Result<void> AuditLog::Record(AuditRecord record) {
  if (record.time_ms == 0) record.time_ms = clock_.WallMillis();
  Json j{{"time_ms", record.time_ms}, {"actor", record.actor},   {"token_id", record.token_id},
         {"action", record.action},   {"status", record.status}, {"result", record.result},
         {"remote", record.remote}};
  Queued q;
  q.value = j.dump(-1, ' ', false, Json::error_handler_t::replace);
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
    q.key = fmt::format("{}{:016d}-{:08d}", kPrefix, record.time_ms, q.seq % 100'000'000);
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
  store::TxnRequest txn;
  txn.success.reserve(batch.size());
  for (auto& q : batch)
    txn.success.push_back(store::TxnOp::Put(std::move(q.key), std::move(q.value)));
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

// Drops the oldest records beyond `keep`.
void AuditLog::Trim() {
  auto count = store_.Get(kPrefix, {.prefix = true, .count_only = true});
  if (!count || count->count <= options_.keep) return;
  auto oldest = store_.Get(
      kPrefix, {.prefix = true, .limit = count->count - options_.keep, .keys_only = true});
  if (oldest && !oldest->kvs.empty()) {
    (void)store_.Delete(kPrefix, {.range_end = oldest->kvs.back().key + '\0'});
  }
}

Result<std::vector<AuditRecord>> AuditLog::List(int64_t limit) {
  if (auto f = Flush(); !f) {
    log::Warn("audit", "listing before every queued record is stored: {}", f.error().message);
  }
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
