// Test helper: writes tar archives entry by entry (regular files, dirs, symlinks,
// hardlinks, device nodes) with libarchive, so tests can build well-formed and hostile
// layers and image archives. Header-only; tests only.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <string>
#include <vector>

namespace berth::agent::image::testing {

struct TarEntry {
  enum Kind { kFile, kDir, kSymlink, kHardlink, kCharDevice } kind = kFile;
  std::string name;
  std::string data;    // file contents
  std::string target;  // symlink / hardlink target
  int mode = 0644;
};

inline TarEntry File(std::string name, std::string data, int mode = 0644) {
  return {TarEntry::kFile, std::move(name), std::move(data), "", mode};
}
inline TarEntry Dir(std::string name) { return {TarEntry::kDir, std::move(name), "", "", 0755}; }
inline TarEntry Symlink(std::string name, std::string target) {
  return {TarEntry::kSymlink, std::move(name), "", std::move(target), 0777};
}
inline TarEntry Hardlink(std::string name, std::string target) {
  return {TarEntry::kHardlink, std::move(name), "", std::move(target), 0644};
}
inline TarEntry CharDevice(std::string name) {
  return {TarEntry::kCharDevice, std::move(name), "", "", 0600};
}

// Writes the entries to `path` (gzip-compressed with `gzip`). Returns false on failure.
inline bool WriteTar(const std::string& path, const std::vector<TarEntry>& entries,
                     bool gzip = false) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) {
    archive_write_free(a);
    return false;
  }
  for (const auto& e : entries) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.name.c_str());
    archive_entry_set_perm(en, e.mode);
    archive_entry_set_mtime(en, 0, 0);
    switch (e.kind) {
      case TarEntry::kFile:
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_size(en, static_cast<la_int64_t>(e.data.size()));
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(en, AE_IFDIR);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(en, AE_IFLNK);
        archive_entry_set_symlink(en, e.target.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_hardlink(en, e.target.c_str());
        break;
      case TarEntry::kCharDevice:
        archive_entry_set_filetype(en, AE_IFCHR);
        archive_entry_set_rdevmajor(en, 1);
        archive_entry_set_rdevminor(en, 3);
        break;
    }
    archive_write_header(a, en);
    if (e.kind == TarEntry::kFile && !e.data.empty())
      archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(en);
  }
  bool ok = archive_write_close(a) == ARCHIVE_OK;
  archive_write_free(a);
  return ok;
}

}  // namespace berth::agent::image::testing
