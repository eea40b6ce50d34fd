#include "security/scan/image_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>

namespace berth::security::scan {
namespace {

constexpr int kMaxHops = 40;
constexpr int kMaxDepth = 256;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

bool IsWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool IsOpaque(int dir_fd) {
  // O_PATH fds do not take fgetxattr: read it through /proc/self/fd (the fd itself, no path
  // of the image is resolved).
  char buf[2] = {};
  std::string proc = fmt::format("/proc/self/fd/{}", dir_fd);
  ssize_t n = ::getxattr(proc.c_str(), "trusted.overlay.opaque", buf, sizeof buf);
  return n == 1 && buf[0] == 'y';
}

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

}  // namespace

// One entry of the merged tree.
struct ImageFs::Found {
  bool exists = false;
  size_t layer = 0;  // the layer the entry comes from (the topmost one for a directory)
  struct stat st {};
  Fd parent;  // the entry's directory in `layer` (O_PATH)
  std::string name;
  std::vector<std::pair<size_t, Fd>> dirs;  // a directory: its layers top-down with fds
};

namespace {

// The child `name` of the merged directory `dir` (its layers' fds top-down).
Result<ImageFs::Found> ChildOf(const std::vector<std::pair<size_t, Fd>>& dir,
                               const std::string& name, const std::string& where);

}  // namespace

Result<std::unique_ptr<ImageFs>> ImageFs::Open(std::vector<std::string> layer_dirs) {
  std::vector<int> fds;
  for (const auto& d : layer_dirs) {
    int fd = ::open(d.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      for (int f : fds) ::close(f);
      return Fail(ErrorCode::kNotFound,
                  fmt::format("layer directory {}: {}", d, std::strerror(errno)));
    }
    fds.push_back(fd);
  }
  return std::unique_ptr<ImageFs>(new ImageFs(std::move(fds)));
}

ImageFs::~ImageFs() {
  for (int fd : layer_fds_) ::close(fd);
}

namespace {

Result<ImageFs::Found> ChildOf(const std::vector<std::pair<size_t, Fd>>& dir,
                               const std::string& name, const std::string& where) {
  ImageFs::Found out;
  out.name = name;
  for (const auto& [layer, fd] : dir) {
    struct stat st {};
    if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return Fail(ErrorCode::kInternal, fmt::format("{}: {}", where, std::strerror(errno)));
    }
    if (IsWhiteout(st)) break;  // deleted in this layer: nothing below counts
    if (!S_ISDIR(st.st_mode)) {
      if (!out.dirs.empty()) break;  // a directory above hides it
      out.exists = true;
      out.layer = layer;
      out.st = st;
      out.parent = Fd(::dup(fd.get()));
      break;
    }
    Fd child(::openat(fd.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child.ok()) {
      return Fail(ErrorCode::kInternal, fmt::format("{}: {}", where, std::strerror(errno)));
    }
    if (!out.exists) {
      out.exists = true;
      out.layer = layer;
      out.st = st;
      out.parent = Fd(::dup(fd.get()));
    }
    bool opaque = IsOpaque(child.get());
    out.dirs.emplace_back(layer, std::move(child));
    if (opaque) break;
  }
  return out;
}

}  // namespace

Result<ImageFs::Found> ImageFs::Lookup(const std::string& rel) const {
  Found cur;
  cur.exists = true;
  cur.layer = layer_fds_.empty() ? 0 : layer_fds_.size() - 1;
  cur.st.st_mode = S_IFDIR;
  for (size_t l = layer_fds_.size(); l-- > 0;) cur.dirs.emplace_back(l, Fd(::dup(layer_fds_[l])));
  std::string where;
  for (const auto& part : Split(rel)) {
    where += "/" + part;
    if (cur.dirs.empty()) return Found{};  // a file where a directory was needed
    auto child = ChildOf(cur.dirs, part, where);
    if (!child) return std::unexpected(child.error());
    if (!child->exists) return Found{};
    cur = std::move(*child);
  }
  return cur;
}

Result<std::string> ImageFs::Resolve(std::string_view path, bool follow) const {
  std::deque<std::string> todo;
  for (auto& p : Split(path)) todo.push_back(std::move(p));
  std::vector<std::string> done;
  int hops = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();  // never above the image's root
      continue;
    }
    done.push_back(c);
    std::string rel = Join(done);
    auto f = Lookup(rel);
    if (!f) return std::unexpected(f.error());
    if (!f->exists) {
      return Fail(ErrorCode::kNotFound,
                  rel == Join(Split(path))
                      ? fmt::format("the image has no {}", rel)
                      : fmt::format("the image has no {} (resolving {})", rel, path));
    }
    if (S_ISLNK(f->st.st_mode) && (follow || !todo.empty())) {
      if (++hops > kMaxHops) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: more than {} symlinks (a loop?)", path, kMaxHops));
      }
      char buf[4096];
      ssize_t n = ::readlinkat(f->parent.get(), f->name.c_str(), buf, sizeof buf);
      if (n < 0 || n == static_cast<ssize_t>(sizeof buf)) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: unreadable symlink", rel));
      }
      std::string target(buf, static_cast<size_t>(n));
      done.pop_back();
      if (target.starts_with('/')) done.clear();  // absolute: from the image's root
      auto parts = Split(target);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    if (!todo.empty() && !S_ISDIR(f->st.st_mode)) {
      return Fail(ErrorCode::kNotFound,
                  fmt::format("{} is not a directory (resolving {})", rel, path));
    }
  }
  return Join(done);
}

std::string ImageFs::SymlinkTarget(std::string_view path) const {
  auto rel = Resolve(path, /*follow=*/false);
  if (!rel) return "";
  auto f = Lookup(*rel);
  if (!f || !f->exists || !S_ISLNK(f->st.st_mode)) return "";
  char buf[4096];
  ssize_t n = ::readlinkat(f->parent.get(), f->name.c_str(), buf, sizeof buf);
  return n > 0 && n < static_cast<ssize_t>(sizeof buf) ? std::string(buf, static_cast<size_t>(n))
                                                       : std::string("?");
}

Result<ImageFs::Found> ImageFs::RegularFile(std::string_view path, std::string* rel) const {
  auto resolved = Resolve(path, /*follow=*/true);
  if (!resolved) return std::unexpected(resolved.error());
  *rel = std::move(*resolved);
  auto f = Lookup(*rel);
  if (!f) return std::unexpected(f.error());
  if (!f->exists) return Fail(ErrorCode::kNotFound, fmt::format("the image has no {}", *rel));
  if (!S_ISREG(f->st.st_mode)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}{} is not a regular file", path,
                            *rel == Join(Split(path)) ? "" : " (-> " + *rel + ")"));
  }
  return f;
}

Result<ImageFile> ImageFs::Stat(std::string_view path) const {
  std::string rel;
  auto f = RegularFile(path, &rel);
  if (!f) return std::unexpected(f.error());
  return ImageFile{.path = rel,
                   .layer = f->layer,
                   .size = static_cast<uint64_t>(f->st.st_size),
                   .executable = (f->st.st_mode & 0111) != 0};
}

Result<std::string> ImageFs::ReadFile(std::string_view path, uint64_t max_bytes) const {
  std::string resolved;
  auto f = RegularFile(path, &resolved);
  if (!f) return std::unexpected(f.error());
  const std::string* rel = &resolved;
  Fd fd(::openat(f->parent.get(), f->name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.ok()) {
    return Fail(ErrorCode::kInternal, fmt::format("open {}: {}", *rel, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not a regular file", *rel));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Fail(
        ErrorCode::kInvalidArgument,
        fmt::format("{} is {} bytes; more than the {} read for it", *rel, st.st_size, max_bytes));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

namespace {

// The merged names of a directory (its layers' fds top-down): whiteouts hide lower entries.
Result<std::vector<std::string>> MergedNames(const std::vector<std::pair<size_t, Fd>>& dirs,
                                             const std::string& where) {
  std::map<std::string, bool> seen;  // name -> visible
  for (const auto& [layer, fd] : dirs) {
    int rd = ::openat(fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = rd < 0 ? nullptr : ::fdopendir(rd);
    if (d == nullptr) {
      if (rd >= 0) ::close(rd);
      return Fail(ErrorCode::kInternal, fmt::format("list {}: {}", where, std::strerror(errno)));
    }
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == ".." || seen.contains(name)) continue;
      struct stat st {};
      bool whiteout =
          ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && IsWhiteout(st);
      seen[name] = !whiteout;
    }
    ::closedir(d);  // closes rd
  }
  std::vector<std::string> out;
  for (const auto& [name, visible] : seen) {
    if (visible) out.push_back(name);
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> ImageFs::List(std::string_view path) const {
  auto rel = Resolve(path, /*follow=*/true);
  if (!rel) return std::unexpected(rel.error());
  auto f = Lookup(*rel);
  if (!f) return std::unexpected(f.error());
  if (!f->exists) return Fail(ErrorCode::kNotFound, fmt::format("the image has no {}", *rel));
  if (f->dirs.empty()) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not a directory", *rel));
  }
  return MergedNames(f->dirs, *rel);
}

Result<void> ImageFs::Walk(const std::function<bool(const ImageFile&)>& visit,
                           const std::vector<std::string>& skip) const {
  bool stop = false;
  return WalkDir("", visit, skip, &stop, 0);
}

Result<void> ImageFs::WalkDir(const std::string& rel,
                              const std::function<bool(const ImageFile&)>& visit,
                              const std::vector<std::string>& skip, bool* stop, int depth) const {
  if (depth > kMaxDepth) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: directories nested more than {} deep", rel, kMaxDepth));
  }
  auto dir = Lookup(rel);
  if (!dir) return std::unexpected(dir.error());
  auto names = MergedNames(dir->dirs, rel.empty() ? "/" : rel);
  if (!names) return std::unexpected(names.error());
  for (const auto& name : *names) {
    if (*stop) return {};
    const std::string path = rel + "/" + name;
    auto child = ChildOf(dir->dirs, name, path);
    if (!child) return std::unexpected(child.error());
    if (!child->exists) continue;
    if (!child->dirs.empty()) {
      if (std::find(skip.begin(), skip.end(), path) != skip.end()) continue;
      if (auto r = WalkDir(path, visit, skip, stop, depth + 1); !r) return r;
      continue;
    }
    if (!S_ISREG(child->st.st_mode)) continue;
    ImageFile file{.path = path,
                   .layer = child->layer,
                   .size = static_cast<uint64_t>(child->st.st_size),
                   .executable = (child->st.st_mode & 0111) != 0};
    if (!visit(file)) {
      *stop = true;
      return {};
    }
  }
  return {};
}

}  // namespace berth::security::scan
