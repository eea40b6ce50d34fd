#include "config/file_delivery.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/model.h"
#include "core/json.h"
#include "core/try.h"
#include "core/units.h"

namespace berth::config {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kData = "..data";
constexpr std::string_view kCursor = "..cursor";

Error Os(std::string_view what, const std::string& path) {
  return Error(ErrorCode::kInternal, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

// Writes `bytes` to `path` (created, `mode`), fsynced.
Result<void> WriteFile(const std::string& path, std::string_view bytes, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return std::unexpected(Os("cannot create", path));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = Os("cannot write", path);
      ::close(fd);
      return std::unexpected(e);
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    Error e = Os("cannot sync", path);
    ::close(fd);
    return std::unexpected(e);
  }
  ::close(fd);
  return {};
}

Result<void> SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(Os("cannot open", dir));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return std::unexpected(Os("cannot sync", dir));
  return {};
}

std::string SetDirName(int64_t revision) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return fmt::format("..{}_r{}", std::chrono::duration_cast<std::chrono::microseconds>(now).count(),
                     revision);
}

}  // namespace

Result<void> ValidateFileName(std::string_view name) {
  if (name.empty() || name.size() > 253 || name == "." || name.starts_with("..") ||
      name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("file name {} must be 1-253 bytes without '/', and not start with "
                            "\"..\"",
                            Quoted(name)));
  }
  return {};
}

FileDelivery::FileDelivery(std::string dir, FileOptions options)
    : dir_(std::move(dir)), options_(options) {}

Result<void> FileDelivery::Apply(const FileSet& set) {
  for (const auto& [name, f] : set.files) BERTH_TRY(ValidateFileName(name));
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return Fail(ErrorCode::kInternal, fmt::format("cannot create {}: {}", dir_, ec.message()));
  // 1. The new set, complete, in a directory nobody looks at yet.
  const std::string set_name = SetDirName(set.revision);
  const std::string set_dir = dir_ + "/" + set_name;
  if (::mkdir(set_dir.c_str(), 0755) != 0) return std::unexpected(Os("cannot create", set_dir));
  Json cursor{{"revision", set.revision}, {"files", Json::object()}};
  for (const auto& [name, f] : set.files) {
    const std::string path = set_dir + "/" + name;
    BERTH_TRY(WriteFile(path, f.content, options_.mode));
    if (options_.uid != static_cast<uid_t>(-1) &&
        ::chown(path.c_str(), options_.uid, options_.gid) != 0) {
      return std::unexpected(Os("cannot chown", path));
    }
    cursor["files"][name] = {{"version", f.version},
                             {"sha256", f.sha256.empty() ? Sha256Hex(f.content) : f.sha256}};
  }
  BERTH_TRY(SyncDir(set_dir));
  // 2. Point ..data at it: a new symlink renamed over the old one is atomic.
  std::string old_target;
  {
    char buf[4096];
    ssize_t n = ::readlink((dir_ + "/" + std::string(kData)).c_str(), buf, sizeof buf - 1);
    if (n > 0) old_target.assign(buf, static_cast<size_t>(n));
  }
  const std::string tmp_link = dir_ + "/..data_tmp";
  ::unlink(tmp_link.c_str());
  if (::symlink(set_name.c_str(), tmp_link.c_str()) != 0) {
    return std::unexpected(Os("cannot link", tmp_link));
  }
  if (::rename(tmp_link.c_str(), (dir_ + "/" + std::string(kData)).c_str()) != 0) {
    return std::unexpected(Os("cannot switch", dir_ + "/..data"));
  }
  // 3. Stable names for new files; names no longer delivered go.
  for (const auto& [name, f] : set.files) {
    const std::string link = dir_ + "/" + name;
    const std::string target = std::string(kData) + "/" + name;
    char buf[4096];
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n > 0 && std::string_view(buf, static_cast<size_t>(n)) == target) continue;
    ::unlink(link.c_str());
    if (::symlink(target.c_str(), link.c_str()) != 0)
      return std::unexpected(Os("cannot link", link));
  }
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("..")) continue;
    if (!set.files.contains(name)) fs::remove(entry.path(), ec);
  }
  if (!old_target.empty() && old_target != set_name) fs::remove_all(dir_ + "/" + old_target, ec);
  BERTH_TRY(SyncDir(dir_));
  // 4. Only now the cursor: the revision these files hold.
  const std::string cursor_tmp = dir_ + "/..cursor_tmp";
  BERTH_TRY(WriteFile(cursor_tmp, cursor.dump(), 0600));
  if (::rename(cursor_tmp.c_str(), (dir_ + "/" + std::string(kCursor)).c_str()) != 0) {
    return std::unexpected(Os("cannot write", dir_ + "/..cursor"));
  }
  return SyncDir(dir_);
}

Result<FileSet> FileDelivery::Load() const {
  FileSet out;
  std::ifstream in(dir_ + "/" + std::string(kCursor));
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = ParseJson(ss.str());
  if (!j || !j->is_object()) {
    return Fail(ErrorCode::kInternal, fmt::format("{}/..cursor is not JSON", dir_));
  }
  out.revision = j->value("revision", int64_t{0});
  const Json files = j->value("files", Json::object());
  for (const auto& [name, meta] : files.items()) {
    std::ifstream f(dir_ + "/" + std::string(kData) + "/" + name, std::ios::binary);
    if (!f) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("{}/{} is in the cursor but not on disk", dir_, name));
    }
    std::stringstream content;
    content << f.rdbuf();
    out.files[name] = DeliveredFile{.content = content.str(),
                                    .version = meta.value("version", int64_t{0}),
                                    .sha256 = meta.value("sha256", "")};
  }
  return out;
}

}  // namespace berth::config
