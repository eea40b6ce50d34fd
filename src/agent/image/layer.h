// Layer archives: validating and unpacking one image layer (a tar stream, optionally
// gzip- or zstd-compressed) into a directory that overlayfs stacks later.
//
// Every entry is checked before anything is written: the path must stay inside the layer
// (no absolute paths, no `..`), must not pass through a symlink, hardlinks must point at a
// file of the same layer, device nodes and sockets are refused, relative symlink targets
// may not climb above the root, and the total size is bounded. OCI whiteouts become what
// overlayfs understands: `.wh.NAME` a 0:0 character device NAME, `.wh..wh..opq` the
// `trusted.overlay.opaque=y` xattr on its directory. A truncated or corrupt stream is an
// error. The caller unpacks into a fresh directory and removes it on failure.
// Thread-safety: functions are reentrant; they touch only the paths they are given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace berth::agent::image {

struct LayerLimits {
  uint64_t max_bytes = 8ull << 30;  // sum of file sizes in one layer
  uint64_t max_entries = 1'000'000;
};

// Normalizes a tar entry name ("./a//b/" -> "a/b"); fails for absolute names and any `..`
// component. The root itself ("./", ".") normalizes to "".
Result<std::string> NormalizeEntryPath(std::string_view name);

// True when a relative symlink target, resolved from the symlink at `link_path`
// (normalized), would climb above the layer root. Absolute targets return false: they
// resolve inside the container's root at run time.
bool SymlinkClimbsAboveRoot(std::string_view link_path, std::string_view target);

struct UnpackStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

// Unpacks the layer archive at `archive_path` into the existing empty directory `dest`.
// Errors name the entry and the rule it broke.
Result<UnpackStats> UnpackLayer(const std::string& archive_path, const std::string& dest,
                                const LayerLimits& limits = {});

// sha256 of the uncompressed tar stream (the layer's diff_id).
Result<std::string> UncompressedDigest(const std::string& archive_path);

}  // namespace berth::agent::image
