#include "agent/logship/tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::agent::logship {
namespace {

struct File {
  std::string path;
  uint64_t inode = 0;
  uint64_t size = 0;
};

// The files that exist, oldest first: path.K ... path.1, path.
std::vector<File> Files(const std::string& path, int keep_files) {
  std::vector<File> out;
  for (int n = keep_files; n >= 0; --n) {
    std::string p = n == 0 ? path : path + "." + std::to_string(n);
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0)
      out.push_back({p, static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size)});
  }
  return out;
}

}  // namespace

bool Before(const Cursor& a, const Cursor& b, const std::vector<uint64_t>& order) {
  auto rank = [&](uint64_t inode) -> int64_t {
    if (inode == 0) return -2;
    for (size_t i = 0; i < order.size(); ++i) {
      if (order[i] == inode) return static_cast<int64_t>(i);
    }
    return -1;
  };
  int64_t ra = rank(a.inode), rb = rank(b.inode);
  if (ra != rb) return ra < rb;
  return a.offset < b.offset;
}

Result<TailRead> ReadLines(const std::string& path, int keep_files, Cursor cursor,
                           size_t max_bytes) {
  TailRead out;
  out.cursor = cursor;
  std::vector<File> files = Files(path, keep_files);
  for (const auto& f : files) out.order.push_back(f.inode);
  if (files.empty()) {
    out.at_end = true;
    return out;
  }
  size_t i = 0;
  if (cursor.inode != 0) {
    while (i < files.size() && files[i].inode != cursor.inode) ++i;
    if (i == files.size()) {
      // The file we were reading rotated out of reach: everything kept is new to us.
      out.lost = true;
      i = 0;
      out.cursor = {files[0].inode, 0};
    }
  } else {
    out.cursor = {files[0].inode, 0};
  }
  size_t budget = max_bytes;
  std::string buf;
  while (i < files.size()) {
    const File& f = files[i];
    if (out.cursor.offset > f.size) out.cursor.offset = 0;  // truncated and rewritten
    uint64_t want = std::min<uint64_t>(f.size - out.cursor.offset, budget);
    if (want > 0) {
      int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT) break;  // rotated right now: the next pass finds it renamed
        return Fail(ErrorCode::kInternal, "open " + f.path + ": " + std::strerror(errno));
      }
      buf.resize(want);
      ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(out.cursor.offset));
      ::close(fd);
      if (n < 0) return Fail(ErrorCode::kInternal, "read " + f.path + ": " + std::strerror(errno));
      buf.resize(static_cast<size_t>(n));
      size_t start = 0, nl;
      while ((nl = buf.find('\n', start)) != std::string::npos) {
        out.starts.push_back({f.inode, out.cursor.offset + start});
        out.lines.emplace_back(buf, start, nl - start);
        start = nl + 1;
      }
      out.cursor.offset += start;
      budget -= std::min<size_t>(budget, start);
      if (budget == 0) break;
      if (start == 0) {  // part of a line: the file's end (still being written), or the budget's
        out.at_end = i + 1 == files.size() && out.cursor.offset + buf.size() >= f.size;
        break;
      }
      if (out.cursor.offset < f.size) continue;
    }
    if (i + 1 == files.size()) {
      out.at_end = true;
      break;
    }
    // This file is finished (a rotated file does not grow): on to its successor.
    ++i;
    out.cursor = {files[i].inode, 0};
  }
  return out;
}

}  // namespace berth::agent::logship
