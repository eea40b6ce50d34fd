// The node's OCI image store: content-addressed blobs (sha256, verified on every write),
// images named by `name:tag`, and each layer unpacked once into its own directory that
// containers stack with overlayfs.
//
// Layout under `root`:
//   blobs/sha256/<hex>      manifests, configs and layer archives, exactly as digested
//   layers/<diff-id hex>/   one unpacked layer (whiteouts already in overlayfs form)
//   index.json              the images: id, names, manifest, config, layers
//   tmp/                    staging for imports and builds; never read
// An import or build stages everything, verifies every digest, unpacks every new layer and
// only then commits with renames and one atomic index write; any failure removes what it
// added, so the store is as it was.
//
// Thread-safety: all methods are safe from any thread; one mutex guards the index and the
// commit step (staging and unpacking of different imports run in parallel).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "agent/image/layer.h"
#include "core/error.h"

namespace berth::agent::image {

struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "K=V"
  std::string user;              // "uid[:gid]" or "name[:group]"; empty: root
  std::string working_dir;
};

struct LayerInfo {
  std::string digest;   // of the blob as stored (maybe compressed)
  std::string diff_id;  // of the uncompressed tar
  std::string media_type;
  uint64_t size = 0;
};

struct Image {
  std::string id;                  // the config digest, as Docker names images
  std::vector<std::string> names;  // "name:tag"
  std::string manifest_digest;
  std::vector<LayerInfo> layers;  // bottom first
  ImageConfig config;
  int64_t created_ms = 0;
  uint64_t size = 0;  // sum of layer blob sizes
};

// An image as JSON: the store's index entry, which the REST API also answers with.
nlohmann::json ImageToJson(const Image& im);

struct StoreLimits {
  uint64_t max_archive_bytes = 16ull << 30;  // one import archive, uncompressed
  uint64_t max_json_bytes = 4 << 20;         // a manifest, config or index
  LayerLimits layer;
};

struct BuildOptions {
  std::string name;  // "name[:tag]"
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string user;
  std::string working_dir;
};

// A reference as the user writes it, with ":latest" added when no tag is given.
std::string NormalizeRef(std::string_view ref);

class ImageStore {
 public:
  static Result<std::unique_ptr<ImageStore>> Open(std::string root, StoreLimits limits = {});
  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  // Imports a `docker save` archive or an OCI image-layout tarball (optionally
  // compressed). Returns the images it added or renamed.
  Result<std::vector<Image>> Import(const std::string& archive_path);
  // Packs directory `dir` into a one-layer image named options.name.
  Result<Image> Build(const std::string& dir, const BuildOptions& options);
  // Adds an image from blobs already fetched into `staging_dir`/<hex> (the puller's
  // path): the manifest bytes name the config and layers.
  Result<Image> AddFromManifest(const std::string& name, const std::string& manifest_bytes,
                                const std::string& staging_dir);

  std::vector<Image> List() const;
  // `ref` is name[:tag], the full id, or an id prefix of at least 12 hex characters.
  Result<Image> Inspect(std::string_view ref) const;
  // Removes a name; the image goes when its last name goes (or when `ref` is its id),
  // then blobs and layers no image uses any more are deleted.
  Result<void> Remove(std::string_view ref);
  // The unpacked layer directories of an image, bottom first (overlayfs lowerdirs reversed).
  Result<std::vector<std::string>> LayerDirs(std::string_view ref) const;
  // Writes an OCI image-layout tarball of one image (for `podman load`, `skopeo copy`).
  Result<void> ExportOciArchive(std::string_view ref, const std::string& path) const;

  const std::string& root() const { return root_; }
  std::string BlobPath(std::string_view digest) const;
  std::string TempDir() const { return root_ + "/tmp"; }

 private:
  struct Pending;
  ImageStore(std::string root, StoreLimits limits);
  Result<std::vector<Image>> ImportUnchecked(const std::string& archive_path);
  Result<Image> AddFromManifestUnchecked(const std::string& name, const std::string& manifest_bytes,
                                         const std::string& staging_dir);
  Result<void> Load();
  Result<void> SaveLocked() const;
  Result<Image> Commit(Pending& pending);
  Result<const Image*> FindLocked(std::string_view ref) const;
  void CollectGarbageLocked();

  const std::string root_;
  const StoreLimits limits_;
  mutable std::mutex mu_;
  std::vector<Image> images_;  // guarded by mu_
};

}  // namespace berth::agent::image
