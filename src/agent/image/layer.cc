#include "agent/image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "agent/image/digest.h"

namespace berth::agent::image {
namespace {

struct ReadCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ReadArchive = std::unique_ptr<archive, ReadCloser>;
using WriteArchive = std::unique_ptr<archive, WriteCloser>;

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string_view Basename(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? p : p.substr(s + 1);
}
std::string_view Dirname(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? std::string_view() : p.substr(0, s);
}

// Makes sure every parent of `rel` under `dest` is a real directory (creating missing
// ones); a symlink or a file on the way is an escape attempt.
Result<void> PrepareParents(const std::string& dest, std::string_view rel) {
  std::string cur = dest;
  auto parts = Split(Dirname(rel));
  for (auto part : parts) {
    cur += "/";
    cur += part;
    struct stat st;
    if (::lstat(cur.c_str(), &st) == 0) {
      if (S_ISLNK(st.st_mode))
        return Fail(ErrorCode::kInvalidArgument,
                    "entry \"" + std::string(rel) + "\" passes through symlink \"" +
                        cur.substr(dest.size() + 1) + "\" (symlink escape)");
      if (!S_ISDIR(st.st_mode))
        return Fail(ErrorCode::kInvalidArgument,
                    "entry \"" + std::string(rel) + "\" has a non-directory parent");
    } else if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return Fail(ErrorCode::kInternal, "mkdir " + cur + ": " + std::strerror(errno));
    }
  }
  return {};
}

ReadArchive OpenRead(const std::string& path, bool raw) {
  ReadArchive a(archive_read_new());
  archive_read_support_filter_all(a.get());
  if (raw) {
    archive_read_support_format_raw(a.get());
  } else {
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
  }
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) return nullptr;
  return a;
}

}  // namespace

Result<std::string> NormalizeEntryPath(std::string_view name) {
  if (!name.empty() && name.front() == '/')
    return Fail(ErrorCode::kInvalidArgument,
                "entry \"" + std::string(name) + "\" has an absolute path");
  std::string out;
  for (auto part : Split(name)) {
    if (part == ".") continue;
    if (part == "..")
      return Fail(ErrorCode::kInvalidArgument,
                  "entry \"" + std::string(name) + "\" contains \"..\" (path traversal)");
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

bool SymlinkClimbsAboveRoot(std::string_view link_path, std::string_view target) {
  if (!target.empty() && target.front() == '/') return false;
  int depth = static_cast<int>(Split(Dirname(link_path)).size());
  for (auto part : Split(target)) {
    if (part == ".") continue;
    if (part == "..") {
      if (--depth < 0) return true;
    } else {
      ++depth;
    }
  }
  return false;
}

Result<std::string> UncompressedDigest(const std::string& archive_path) {
  ReadArchive a = OpenRead(archive_path, /*raw=*/true);
  if (!a) return Fail(ErrorCode::kInvalidArgument, "cannot open layer " + archive_path);
  archive_entry* e = nullptr;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
    return Fail(ErrorCode::kInvalidArgument,
                "layer " + archive_path + ": " + archive_error_string(a.get()));
  Sha256 h;
  char buf[1 << 16];
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
    if (n < 0)
      return Fail(ErrorCode::kInvalidArgument,
                  "layer is truncated or corrupt: " + std::string(archive_error_string(a.get())));
    if (n == 0) break;
    h.Update(buf, static_cast<size_t>(n));
  }
  return h.Finish();
}

Result<UnpackStats> UnpackLayer(const std::string& archive_path, const std::string& dest,
                                const LayerLimits& limits) {
  ReadArchive in = OpenRead(archive_path, /*raw=*/false);
  if (!in) return Fail(ErrorCode::kInvalidArgument, "cannot open layer " + archive_path);
  WriteArchive out(archive_write_disk_new());
  archive_write_disk_set_options(
      out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                     ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                     ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK);
  UnpackStats stats;
  auto bad = [&](const std::string& what) {
    return Fail(ErrorCode::kInvalidArgument, "layer rejected: " + what);
  };
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return bad("truncated or corrupt archive: " + std::string(archive_error_string(in.get())));
    if (++stats.entries > limits.max_entries) return bad("too many entries");
    const char* raw_name = archive_entry_pathname(e);
    if (!raw_name) return bad("entry without a name");
    auto rel = NormalizeEntryPath(raw_name);
    if (!rel) return bad(rel.error().message);
    if (rel->empty()) continue;  // the root directory itself
    mode_t type = archive_entry_filetype(e);
    const char* hardlink = archive_entry_hardlink(e);
    if (!hardlink && (type == AE_IFCHR || type == AE_IFBLK))
      return bad("entry \"" + *rel + "\" is a device node");
    if (!hardlink && type == AE_IFSOCK) return bad("entry \"" + *rel + "\" is a socket");
    int64_t size = archive_entry_size(e);
    if (size < 0) size = 0;
    stats.bytes += static_cast<uint64_t>(size);
    if (stats.bytes > limits.max_bytes)
      return bad("layer is larger than the limit of " + std::to_string(limits.max_bytes) +
                 " bytes");
    if (auto ok = PrepareParents(dest, *rel); !ok) return bad(ok.error().message);

    std::string base(Basename(*rel));
    std::string parent = dest + "/" + std::string(Dirname(*rel));
    if (base == ".wh..wh..opq") {
      if (::lsetxattr(parent.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0)
        return Fail(ErrorCode::kInternal, "mark " + parent + " opaque: " + std::strerror(errno));
      continue;
    }
    if (base.starts_with(".wh.")) {
      std::string target = parent + "/" + base.substr(4);
      if (base.size() == 4) return bad("empty whiteout name in \"" + *rel + "\"");
      if (::mknod(target.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0 && errno != EEXIST)
        return Fail(ErrorCode::kInternal, "whiteout " + target + ": " + std::strerror(errno));
      continue;
    }
    if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(e);
      if (!target) return bad("symlink \"" + *rel + "\" without a target");
      if (SymlinkClimbsAboveRoot(*rel, target))
        return bad("symlink \"" + *rel + "\" -> \"" + target + "\" escapes the root");
    }
    if (hardlink) {
      auto link = NormalizeEntryPath(hardlink);
      if (!link) return bad("hardlink \"" + *rel + "\": " + link.error().message);
      std::string target = dest + "/" + *link;
      struct stat st;
      if (auto ok = PrepareParents(dest, *link); !ok) return bad(ok.error().message);
      if (::lstat(target.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return bad("hardlink \"" + *rel + "\" -> \"" + *link +
                   "\" does not name a regular file of this layer (hardlink escape)");
      archive_entry_copy_hardlink(e, target.c_str());
    }
    std::string full = dest + "/" + *rel;
    archive_entry_copy_pathname(e, full.c_str());
    r = archive_write_header(out.get(), e);
    if (r < ARCHIVE_WARN)
      return bad("entry \"" + *rel + "\": " + std::string(archive_error_string(out.get())));
    if (size > 0 && !hardlink) {
      const void* buf;
      size_t len;
      la_int64_t offset;
      for (;;) {
        r = archive_read_data_block(in.get(), &buf, &len, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN)
          return bad("truncated or corrupt data in \"" + *rel +
                     "\": " + std::string(archive_error_string(in.get())));
        if (archive_write_data_block(out.get(), buf, len, offset) < ARCHIVE_WARN)
          return Fail(ErrorCode::kInternal,
                      "write \"" + *rel + "\": " + archive_error_string(out.get()));
      }
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
      return Fail(ErrorCode::kInternal,
                  "finish \"" + *rel + "\": " + std::string(archive_error_string(out.get())));
  }
  if (archive_write_close(out.get()) < ARCHIVE_WARN)
    return Fail(ErrorCode::kInternal,
                "finish layer: " + std::string(archive_error_string(out.get())));
  return stats;
}

}  // namespace berth::agent::image
