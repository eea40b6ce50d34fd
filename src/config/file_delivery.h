// FileDelivery: the node side of delivering configs into containers as files. Each mount is
// a node-local directory (bind-mounted into the container) laid out like Kubernetes'
// AtomicWriter, so a reader never sees half a file or a mix of two versions:
//
//   <dir>/..2026_12_07_22_55_01.123_r4711/app.yaml   one complete version set
//   <dir>/..data -> ..2026_12_07_22_55_01.123_r4711  switched by rename(2) of a new symlink
//   <dir>/app.yaml -> ..data/app.yaml                 stable names the program opens
//   <dir>/..cursor                                    {"revision","files":{name:{version,sha256}}}
//
// Apply writes the new set into a fresh directory (files fsynced, mode as asked), points a
// temporary symlink at it and renames that over `..data` (atomic), then removes the old set
// and only then writes the cursor — the revision a consumer resumes from advances only after
// the files are in place. The directory is the local snapshot: after a restart (of the
// agent, or of the container while the control plane is unreachable) the files are there and
// `Load` says which revision they hold.
// Thread-safety: one FileDelivery per directory, used from one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "core/error.h"

namespace berth::config {

struct DeliveredFile {
  std::string content;
  int64_t version = 0;
  std::string sha256;  // filled by Apply when empty
};

struct FileSet {
  int64_t revision = 0;                        // the change this set reflects
  std::map<std::string, DeliveredFile> files;  // by file name (no '/')
};

struct FileOptions {
  mode_t mode = 0444;                  // secrets: 0400
  uid_t uid = static_cast<uid_t>(-1);  // -1: leave the owner as is
  gid_t gid = static_cast<gid_t>(-1);
};

class FileDelivery {
 public:
  FileDelivery(std::string dir, FileOptions options = {});

  // Writes `set` as the visible version set (see above). Files of the previous set that are
  // not in `set` disappear with it. An error leaves the previous set visible and the cursor
  // where it was.
  Result<void> Apply(const FileSet& set);
  // What the directory holds now (revision 0 and no files when nothing was delivered yet);
  // content is read back from the files.
  Result<FileSet> Load() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  FileOptions options_;
};

// A file name a mount may use: 1-253 bytes, not "." or "..", no '/', not starting with "..".
Result<void> ValidateFileName(std::string_view name);

}  // namespace berth::config
