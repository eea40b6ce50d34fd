#include "logs/testing/mem_env.h"

#include <algorithm>

namespace berth::logs::testing {

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(MemEnv& env, std::string path, uint64_t size)
      : env_(env), path_(std::move(path)), size_(size) {}
  Result<void> Append(std::string_view data) override {
    auto r = env_.AppendTo(path_, data);
    size_ = env_.FileSize(path_);
    return r;
  }
  Result<void> Sync() override { return env_.SyncFile(path_); }
  Result<void> Close() override { return {}; }
  uint64_t Size() const override { return size_; }

 private:
  MemEnv& env_;
  std::string path_;
  uint64_t size_;
};

namespace {

// Reads the file as it is at each read (appends after the open are seen, as with pread).
class MemRandomAccessFile final : public RandomAccessFile {
 public:
  MemRandomAccessFile(std::mutex& mu, std::shared_ptr<MemEnv::File> file)
      : mu_(mu), file_(std::move(file)) {}
  Result<void> Read(uint64_t offset, size_t n, std::string& out) const override {
    std::lock_guard lock(mu_);
    const std::string& data = file_->data;
    if (offset >= data.size()) {
      out.clear();
      return {};
    }
    out.assign(data, offset, std::min<uint64_t>(n, data.size() - offset));
    return {};
  }
  uint64_t Size() const override {
    std::lock_guard lock(mu_);
    return file_->data.size();
  }

 private:
  std::mutex& mu_;
  std::shared_ptr<MemEnv::File> file_;
};

Error NotFound(const std::string& path) {
  return Error(ErrorCode::kNotFound, "open " + path + ": No such file or directory");
}

}  // namespace

Result<std::unique_ptr<WritableFile>> MemEnv::NewAppendableFile(const std::string& path) {
  std::lock_guard lock(mu_);
  auto& f = files_[path];
  if (!f) f = std::make_shared<File>();
  return std::make_unique<MemWritableFile>(*this, path, f->data.size());
}

Result<std::unique_ptr<RandomAccessFile>> MemEnv::NewRandomAccessFile(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return std::unexpected(NotFound(path));
  return std::make_unique<MemRandomAccessFile>(mu_, it->second);
}

Result<std::string> MemEnv::ReadFile(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return std::unexpected(NotFound(path));
  return it->second->data;
}

Result<void> MemEnv::WriteFileAtomic(const std::string& path, std::string_view data) {
  std::lock_guard lock(mu_);
  if (fail_syncs_) return Fail(ErrorCode::kInternal, "fsync " + path + ".tmp: injected fault");
  if (write_budget_ >= 0) {
    if (static_cast<int64_t>(data.size()) > write_budget_) {
      write_budget_ = 0;
      return Fail(ErrorCode::kInternal, "write " + path + ".tmp: No space left on device");
    }
    write_budget_ -= static_cast<int64_t>(data.size());
  }
  auto f = std::make_shared<File>();
  f->data = std::string(data);
  f->synced = f->data.size();
  files_[path] = f;
  return {};
}

bool MemEnv::FileExists(const std::string& path) {
  std::lock_guard lock(mu_);
  return files_.contains(path);
}

Result<std::vector<std::string>> MemEnv::Children(const std::string& dir) {
  std::lock_guard lock(mu_);
  std::string prefix = dir.ends_with('/') ? dir : dir + "/";
  std::vector<std::string> names;
  for (auto it = files_.lower_bound(prefix); it != files_.end(); ++it) {
    if (!it->first.starts_with(prefix)) break;
    std::string rest = it->first.substr(prefix.size());
    auto slash = rest.find('/');
    if (slash != std::string::npos) rest.resize(slash);
    if (names.empty() || names.back() != rest) names.push_back(rest);
  }
  return names;
}

Result<void> MemEnv::RemoveFile(const std::string& path) {
  std::lock_guard lock(mu_);
  if (files_.erase(path) == 0) return std::unexpected(NotFound(path));
  return {};
}

Result<void> MemEnv::Truncate(const std::string& path, uint64_t size) {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return std::unexpected(NotFound(path));
  if (size < it->second->data.size()) it->second->data.resize(size);
  it->second->synced = std::min<uint64_t>(it->second->synced, size);
  return {};
}

void MemEnv::FailWritesAfter(int64_t bytes) {
  std::lock_guard lock(mu_);
  write_budget_ = bytes;
}

void MemEnv::FailSyncs(bool on) {
  std::lock_guard lock(mu_);
  fail_syncs_ = on;
}

void MemEnv::Crash() {
  std::lock_guard lock(mu_);
  for (auto& [path, f] : files_) f->data.resize(f->synced);
}

void MemEnv::Corrupt(const std::string& path, uint64_t offset) {
  std::lock_guard lock(mu_);
  auto& f = files_.at(path);
  f->data.at(offset) = static_cast<char>(f->data.at(offset) ^ 0x5a);
}

uint64_t MemEnv::FileSize(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  return it == files_.end() ? 0 : it->second->data.size();
}

Result<void> MemEnv::AppendTo(const std::string& path, std::string_view data) {
  std::lock_guard lock(mu_);
  auto& f = files_[path];
  if (!f) f = std::make_shared<File>();
  if (write_budget_ >= 0 && static_cast<int64_t>(data.size()) > write_budget_) {
    f->data.append(data.substr(0, static_cast<size_t>(write_budget_)));
    write_budget_ = 0;
    return Fail(ErrorCode::kInternal, "write " + path + ": No space left on device");
  }
  if (write_budget_ >= 0) write_budget_ -= static_cast<int64_t>(data.size());
  f->data.append(data);
  return {};
}

Result<void> MemEnv::SyncFile(const std::string& path) {
  std::lock_guard lock(mu_);
  if (fail_syncs_) return Fail(ErrorCode::kInternal, "fdatasync " + path + ": injected fault");
  auto& f = files_[path];
  if (!f) f = std::make_shared<File>();
  f->synced = f->data.size();
  return {};
}

}  // namespace berth::logs::testing
