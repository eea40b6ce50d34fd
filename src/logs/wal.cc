#include "logs/wal.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/log.h"
#include "logs/coding.h"

namespace berth::logs {
namespace {

std::optional<uint64_t> WalSeq(std::string_view name) {
  if (!name.ends_with(".wal") || name.size() != 20) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + 16, v, 16);
  if (ec != std::errc() || p != name.data() + 16) return std::nullopt;
  return v;
}

}  // namespace

std::string Wal::FilePath(uint64_t seq) const {
  return JoinPath(dir_, fmt::format("{:016x}.wal", seq));
}

Result<std::unique_ptr<Wal>> Wal::Open(
    Env& env, std::string dir, uint64_t file_bytes,
    const std::function<Result<void>(uint64_t, std::string_view)>& replay, WalReplayStats* stats) {
  if (auto r = env.CreateDirs(dir); !r) return std::unexpected(r.error());
  auto names = env.Children(dir);
  if (!names) return std::unexpected(names.error());
  std::vector<uint64_t> seqs;
  for (const auto& n : *names) {
    if (auto s = WalSeq(n)) seqs.push_back(*s);
  }
  std::sort(seqs.begin(), seqs.end());
  std::unique_ptr<Wal> wal(new Wal(env, std::move(dir), file_bytes));
  WalReplayStats local;
  for (uint64_t seq : seqs) {
    std::string path = wal->FilePath(seq);
    auto data = env.ReadFile(path);
    if (!data) return std::unexpected(data.error());
    std::string_view in = *data;
    uint64_t newest = 0;
    bool torn = false;
    while (auto rec = ReadFramed(in, torn)) {
      std::string_view body = *rec;
      auto lsn = GetVarint(body);
      if (!lsn) {
        torn = true;
        break;
      }
      if (auto r = replay(*lsn, body); !r) {
        return std::unexpected(Wrap(r.error(), fmt::format("wal {} record lsn {}", path, *lsn)));
      }
      newest = std::max(newest, *lsn);
      ++local.records;
    }
    if (torn) {
      ++local.torn_files;
      uint64_t good = data->size() - in.size();
      log::Warn("logs", "wal {}: torn or corrupt record at byte {} of {}; the rest is dropped",
                path, good, data->size());
      if (auto r = env.Truncate(path, good); !r) return std::unexpected(r.error());
    }
    wal->files_[seq] = newest;
    wal->file_seq_ = seq;
    local.max_lsn = std::max(local.max_lsn, newest);
  }
  {
    std::lock_guard lock(wal->mu_);
    if (auto r = wal->OpenNextLocked(); !r) return std::unexpected(r.error());
  }
  if (stats) *stats = local;
  return wal;
}

Result<void> Wal::OpenNextLocked() {
  if (file_) {
    // What is in the old file must be durable before later records land in a new one.
    if (auto r = file_->Sync(); !r) return r;
    (void)file_->Close();
  }
  ++file_seq_;
  auto f = env_.NewAppendableFile(FilePath(file_seq_));
  if (!f) return std::unexpected(f.error());
  file_ = std::move(*f);
  good_size_ = file_->Size();
  files_[file_seq_] = 0;
  broken_ = false;
  return env_.SyncDir(dir_);
}

Result<void> Wal::Append(uint64_t lsn, std::string_view record) {
  std::string framed;
  std::string body;
  body.reserve(record.size() + 10);
  PutVarint(body, lsn);
  body.append(record);
  AppendFramed(framed, body);
  std::lock_guard lock(mu_);
  if (broken_ || good_size_ + framed.size() > file_bytes_) {
    if (good_size_ > 0 || broken_) {
      if (auto r = OpenNextLocked(); !r) {
        broken_ = true;
        return r;
      }
    }
  }
  if (auto r = file_->Append(framed); !r) {
    (void)env_.Truncate(FilePath(file_seq_), good_size_);
    broken_ = true;
    return r;
  }
  good_size_ += framed.size();
  files_[file_seq_] = lsn;
  ++appended_;
  return {};
}

Result<void> Wal::Sync() {
  uint64_t target;
  {
    std::lock_guard lock(mu_);
    target = appended_;
  }
  std::lock_guard sync_lock(sync_mu_);
  if (synced_ >= target) return {};
  std::shared_ptr<WritableFile> file;
  uint64_t covered;
  {
    std::lock_guard lock(mu_);
    file = file_;
    covered = appended_;
  }
  if (auto r = file->Sync(); !r) return r;
  synced_ = covered;
  return {};
}

Result<void> Wal::RemoveThrough(uint64_t lsn) {
  std::vector<uint64_t> doomed;
  {
    std::lock_guard lock(mu_);
    for (auto it = files_.begin(); it != files_.end();) {
      if (it->first == file_seq_ || it->second > lsn) break;
      doomed.push_back(it->first);
      it = files_.erase(it);
    }
  }
  for (uint64_t seq : doomed) {
    if (auto r = env_.RemoveFile(FilePath(seq)); !r && r.error().code != ErrorCode::kNotFound)
      return r;
  }
  if (!doomed.empty()) return env_.SyncDir(dir_);
  return {};
}

std::map<uint64_t, uint64_t> Wal::Files() const {
  std::lock_guard lock(mu_);
  return files_;
}

}  // namespace berth::logs
