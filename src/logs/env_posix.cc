#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "logs/env.h"

namespace berth::logs {
namespace {

Error IoError(std::string_view what, const std::string& path, int err) {
  return Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInternal,
               std::string(what) + " " + path + ": " + std::strerror(err));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Result<void> Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return std::unexpected(IoError("write", path_, errno));
      }
      data.remove_prefix(static_cast<size_t>(n));
      size_ += static_cast<uint64_t>(n);
    }
    return {};
  }
  Result<void> Sync() override {
    if (::fdatasync(fd_) != 0) return std::unexpected(IoError("fdatasync", path_, errno));
    return {};
  }
  Result<void> Close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return std::unexpected(IoError("close", path_, errno));
    return {};
  }
  uint64_t Size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Result<void> Read(uint64_t offset, size_t n, std::string& out) const override {
    out.resize(n);
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, out.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return std::unexpected(IoError("read", path_, errno));
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    out.resize(got);
    return {};
  }
  uint64_t Size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

// Opens `path` and reads its size; the fd is the caller's.
Result<std::pair<int, uint64_t>> OpenWithSize(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected(IoError("open", path, errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return std::unexpected(IoError("stat", path, err));
  }
  return std::make_pair(fd, static_cast<uint64_t>(st.st_size));
}

class PosixEnvImpl final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    auto f = OpenWithSize(path, O_WRONLY | O_CREAT | O_APPEND);
    if (!f) return std::unexpected(f.error());
    return std::make_unique<PosixWritableFile>(path, f->first, f->second);
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    auto f = OpenWithSize(path, O_RDONLY);
    if (!f) return std::unexpected(f.error());
    return std::make_unique<PosixRandomAccessFile>(path, f->first, f->second);
  }

  Result<std::string> ReadFile(const std::string& path) override {
    auto file = NewRandomAccessFile(path);
    if (!file) return std::unexpected(file.error());
    std::string out;
    auto r = (*file)->Read(0, (*file)->Size(), out);
    if (!r) return std::unexpected(r.error());
    return out;
  }

  Result<void> WriteFileAtomic(const std::string& path, std::string_view data) override {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return std::unexpected(IoError("open", tmp, errno));
    PosixWritableFile file(tmp, fd, 0);
    if (auto r = file.Append(data); !r) return r;
    if (auto r = file.Sync(); !r) return r;
    if (auto r = file.Close(); !r) return r;
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      return std::unexpected(IoError("rename", tmp, errno));
    }
    auto slash = path.rfind('/');
    return SyncDir(slash == std::string::npos ? "." : path.substr(0, slash));
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<std::vector<std::string>> Children(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return std::unexpected(IoError("opendir", dir, errno));
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(d);
    return names;
  }

  Result<void> CreateDirs(const std::string& dir) override {
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = dir.find('/', pos + 1);
      partial = dir.substr(0, pos);
      if (partial.empty()) continue;
      if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return std::unexpected(IoError("mkdir", partial, errno));
      }
    }
    return {};
  }

  Result<void> RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return std::unexpected(IoError("unlink", path, errno));
    return {};
  }

  Result<void> Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return std::unexpected(IoError("truncate", path, errno));
    }
    return {};
  }

  Result<void> SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(IoError("open", dir, errno));
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return std::unexpected(IoError("fsync", dir, err));
    return {};
  }
};

}  // namespace

Env& PosixEnv() {
  static auto* env = new PosixEnvImpl();
  return *env;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out += '/';
  out += name;
  return out;
}

}  // namespace berth::logs
