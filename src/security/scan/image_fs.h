// An image's file tree, read from its unpacked layer directories (bottom first, as the image
// store keeps them: overlayfs whiteouts as 0/0 character devices, opaque directories marked
// with trusted.overlay.opaque) as a container would see it, and never anything outside them.
//
// Paths are resolved inside the image, one component at a time: symlinks are followed the
// way the container would (absolute ones from the image's root, ".." never above it, at most
// 40 hops), and every file is opened relative to a layer's directory with symlinks refused
// by the kernel (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a hostile symlink in an
// image can point only at another path of the same image.
//
// Thread-safety: an ImageFs is read-only after Open; its methods may run on several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::security::scan {

struct ImageFile {
  std::string path;  // absolute path in the image, symlinks resolved
  size_t layer = 0;  // index of the layer it comes from (0: bottom)
  uint64_t size = 0;
  bool executable = false;
};

class ImageFs {
 public:
  // `layer_dirs` bottom first; `layer_ids` (same length) name them in results (diff ids).
  static Result<std::unique_ptr<ImageFs>> Open(std::vector<std::string> layer_dirs);
  ~ImageFs();
  ImageFs(const ImageFs&) = delete;
  ImageFs& operator=(const ImageFs&) = delete;

  // The regular file at `path` after resolving symlinks in the image; kNotFound when the
  // image has none there, kInvalidArgument when it is not a regular file, a symlink loop, or
  // larger than `max_bytes` (the error names the path and what it resolved to).
  Result<ImageFile> Stat(std::string_view path) const;
  Result<std::string> ReadFile(std::string_view path, uint64_t max_bytes) const;
  // The target of `path` when it is a symlink (its parents resolved), else "".
  std::string SymlinkTarget(std::string_view path) const;
  // The names in directory `path` (merged over the layers, whiteouts applied), sorted;
  // kNotFound when it is absent.
  Result<std::vector<std::string>> List(std::string_view path) const;
  // Every regular file of the merged tree (symlinks not followed), in path order, with the
  // layer it comes from; `visit` returns false to stop. Directories named in `skip` (absolute,
  // like "/proc") are not entered.
  Result<void> Walk(const std::function<bool(const ImageFile&)>& visit,
                    const std::vector<std::string>& skip = {}) const;

  size_t layers() const { return layer_fds_.size(); }

  struct Found;  // one entry of the merged tree (image_fs.cc)

 private:
  explicit ImageFs(std::vector<int> fds) : layer_fds_(std::move(fds)) {}
  // The merged entry at `rel` ("a/b", resolved, no symlinks in its parents).
  Result<Found> Lookup(const std::string& rel) const;
  // The regular file `path` resolves to (its resolved path in `rel`), or why not.
  Result<Found> RegularFile(std::string_view path, std::string* rel) const;
  // Resolves `path`; follows a final symlink when `follow`.
  Result<std::string> Resolve(std::string_view path, bool follow) const;
  Result<void> WalkDir(const std::string& rel, const std::function<bool(const ImageFile&)>& visit,
                       const std::vector<std::string>& skip, bool* stop, int depth) const;

  std::vector<int> layer_fds_;  // O_PATH directory fds, bottom first
};

}  // namespace berth::security::scan
