#include "agent/image/image_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "agent/image/digest.h"
#include "agent/internal/sys.h"
#include "core/json.h"

namespace berth::agent::image {

namespace fs = std::filesystem;
using internal::MakeDirs;
using internal::RandomHex;
using internal::ReadFile;
using internal::RemoveAll;
using internal::WriteFileAtomic;

namespace {

constexpr std::string_view kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kConfigType = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kLayerTar = "application/vnd.oci.image.layer.v1.tar";
constexpr std::string_view kLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string MediaTypeOf(const std::string& path) {
  unsigned char magic[4] = {0, 0, 0, 0};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    [[maybe_unused]] auto n = ::read(fd, magic, sizeof magic);
    ::close(fd);
  }
  if (magic[0] == 0x1f && magic[1] == 0x8b) return std::string(kLayerGzip);
  if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
    return std::string(kLayerZstd);
  return std::string(kLayerTar);
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::vector<std::string> StringList(const Json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

Image ImageFromJson(const Json& j) {
  Image im;
  im.id = j.value("id", "");
  im.names = StringList(j.value("names", Json::array()));
  im.manifest_digest = j.value("manifest", "");
  for (const auto& l : j.value("layers", Json::array()))
    im.layers.push_back({l.value("digest", ""), l.value("diff_id", ""), l.value("media_type", ""),
                         l.value("size", uint64_t{0})});
  const Json c = j.value("config", Json::object());
  im.config.entrypoint = StringList(c.value("entrypoint", Json::array()));
  im.config.cmd = StringList(c.value("cmd", Json::array()));
  im.config.env = StringList(c.value("env", Json::array()));
  im.config.user = c.value("user", "");
  im.config.working_dir = c.value("working_dir", "");
  im.created_ms = j.value("created_ms", int64_t{0});
  im.size = j.value("size", uint64_t{0});
  return im;
}

// The files of an import archive, staged on disk by normalized name.
struct StagedArchive {
  std::map<std::string, std::string> files;    // name -> staged path
  std::map<std::string, std::string> aliases;  // symlink name -> target name

  const std::string* Find(std::string name) const {
    for (int hops = 0; hops < 8; ++hops) {
      if (auto it = files.find(name); it != files.end()) return &it->second;
      auto a = aliases.find(name);
      if (a == aliases.end()) return nullptr;
      name = a->second;
    }
    return nullptr;
  }
};

Result<StagedArchive> StageArchive(const std::string& path, const std::string& dir,
                                   uint64_t max_bytes) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Fail(ErrorCode::kInvalidArgument,
                "cannot open archive " + path + ": " + archive_error_string(a.get()));
  StagedArchive staged;
  uint64_t total = 0;
  int counter = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return Fail(ErrorCode::kInvalidArgument,
                  "archive is truncated or corrupt: " + std::string(archive_error_string(a.get())));
    auto name = NormalizeEntryPath(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    if (!name)
      return Fail(ErrorCode::kInvalidArgument, "archive rejected: " + name.error().message);
    mode_t type = archive_entry_filetype(e);
    if (const char* hl = archive_entry_hardlink(e)) {
      auto target = NormalizeEntryPath(hl);
      if (!target)
        return Fail(ErrorCode::kInvalidArgument, "archive rejected: " + target.error().message);
      staged.aliases[*name] = *target;
      continue;
    }
    if (type == AE_IFDIR) continue;
    if (type == AE_IFLNK) {
      std::string target = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
      if (target.empty() || target.front() == '/' || SymlinkClimbsAboveRoot(*name, target))
        return Fail(ErrorCode::kInvalidArgument, "archive rejected: symlink \"" + *name +
                                                     "\" -> \"" + target +
                                                     "\" escapes the archive");
      std::string dirpart =
          name->find('/') == std::string::npos ? "" : name->substr(0, name->rfind('/') + 1);
      std::string joined = dirpart + target;
      // Resolve ".." lexically inside the archive.
      std::vector<std::string> parts;
      size_t i = 0;
      while (i <= joined.size()) {
        size_t j = joined.find('/', i);
        if (j == std::string::npos) j = joined.size();
        std::string p = joined.substr(i, j - i);
        if (p == "..") {
          if (!parts.empty()) parts.pop_back();
        } else if (!p.empty() && p != ".") {
          parts.push_back(p);
        }
        i = j + 1;
      }
      std::string resolved;
      for (auto& p : parts) resolved += (resolved.empty() ? "" : "/") + p;
      staged.aliases[*name] = resolved;
      continue;
    }
    if (type != AE_IFREG)
      return Fail(ErrorCode::kInvalidArgument,
                  "archive rejected: entry \"" + *name + "\" is not a regular file or directory");
    std::string out = dir + "/f" + std::to_string(counter++);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Fail(ErrorCode::kInternal, "create " + out + ": " + std::strerror(errno));
    for (;;) {
      char buf[1 << 16];
      la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
      if (n < 0) {
        ::close(fd);
        return Fail(ErrorCode::kInvalidArgument,
                    "archive is truncated or corrupt in \"" + *name +
                        "\": " + std::string(archive_error_string(a.get())));
      }
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
      if (total > max_bytes) {
        ::close(fd);
        return Fail(ErrorCode::kInvalidArgument, "archive rejected: larger than the limit of " +
                                                     std::to_string(max_bytes) + " bytes");
      }
      if (::write(fd, buf, static_cast<size_t>(n)) != n) {
        ::close(fd);
        return Fail(ErrorCode::kInternal, "write " + out + ": " + std::strerror(errno));
      }
    }
    ::close(fd);
    staged.files[*name] = out;
  }
  return staged;
}

Result<Json> ReadJsonFile(const std::string& path, uint64_t max_bytes, std::string_view what) {
  if (FileSize(path) > max_bytes)
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " is too large");
  auto text = ReadFile(path);
  if (!text) return std::unexpected(text.error());
  auto j = ParseJson(*text, {.max_bytes = max_bytes});
  if (!j) return std::unexpected(Wrap(j.error(), what));
  return j;
}

std::string RefFromAnnotation(const Json& desc, const std::string& fallback_name) {
  const Json ann = desc.value("annotations", Json::object());
  std::string ref = ann.value("io.containerd.image.name", "");
  if (ref.empty()) ref = ann.value("org.opencontainers.image.ref.name", "");
  if (ref.empty()) return "";
  if (ref.find(':') == std::string::npos && ref.find('/') == std::string::npos)
    return fallback_name + ":" + ref;  // a bare tag
  return NormalizeRef(ref);
}

}  // namespace

Json ImageToJson(const Image& im) {
  Json layers = Json::array();
  for (const auto& l : im.layers)
    layers.push_back({{"digest", l.digest},
                      {"diff_id", l.diff_id},
                      {"media_type", l.media_type},
                      {"size", l.size}});
  return {{"id", im.id},
          {"names", im.names},
          {"manifest", im.manifest_digest},
          {"layers", layers},
          {"config",
           {{"entrypoint", im.config.entrypoint},
            {"cmd", im.config.cmd},
            {"env", im.config.env},
            {"user", im.config.user},
            {"working_dir", im.config.working_dir}}},
          {"created_ms", im.created_ms},
          {"size", im.size}};
}

std::string NormalizeRef(std::string_view ref) {
  std::string r(ref);
  size_t slash = r.rfind('/');
  size_t colon = r.rfind(':');
  if (r.find('@') != std::string::npos) return r;
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) r += ":latest";
  return r;
}

struct ImageStore::Pending {
  std::vector<std::string> names;
  std::string config_bytes;
  std::string manifest_bytes;  // synthesized when empty
  struct Layer {
    std::string path;  // staged file
    std::string digest;
    std::string media_type;
  };
  std::vector<Layer> layers;
};

ImageStore::ImageStore(std::string root, StoreLimits limits)
    : root_(std::move(root)), limits_(limits) {}

Result<std::unique_ptr<ImageStore>> ImageStore::Open(std::string root, StoreLimits limits) {
  std::unique_ptr<ImageStore> s(new ImageStore(std::move(root), limits));
  for (auto sub : {"/blobs/sha256", "/layers", "/tmp"})
    if (auto ok = MakeDirs(s->root_ + sub, 0700); !ok) return std::unexpected(ok.error());
  // Leftovers of an import that died half-way are never part of the store.
  for (const auto& e : fs::directory_iterator(s->root_ + "/tmp")) RemoveAll(e.path());
  for (const auto& e : fs::directory_iterator(s->root_ + "/layers"))
    if (e.path().filename().string().starts_with(".tmp")) RemoveAll(e.path());
  if (auto ok = s->Load(); !ok) return std::unexpected(ok.error());
  return s;
}

Result<void> ImageStore::Load() {
  std::string path = root_ + "/index.json";
  if (!internal::Exists(path)) return {};
  auto j = ReadJsonFile(path, 256 << 20, "image index");
  if (!j) return std::unexpected(j.error());
  for (const auto& im : j->value("images", Json::array())) images_.push_back(ImageFromJson(im));
  return {};
}

Result<void> ImageStore::SaveLocked() const {
  Json list = Json::array();
  for (const auto& im : images_) list.push_back(ImageToJson(im));
  return WriteFileAtomic(root_ + "/index.json", Json{{"images", list}}.dump(1), 0600);
}

std::string ImageStore::BlobPath(std::string_view digest) const {
  return root_ + "/blobs/sha256/" + std::string(DigestHex(digest));
}

// Archive and registry JSON is hostile input: a field of the wrong type must be an error,
// never an exception escaping the store.
Result<std::vector<Image>> ImageStore::Import(const std::string& archive_path) {
  try {
    return ImportUnchecked(archive_path);
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                "import " + archive_path + ": malformed image JSON: " + e.what());
  }
}

Result<Image> ImageStore::AddFromManifest(const std::string& name,
                                          const std::string& manifest_bytes,
                                          const std::string& staging_dir) {
  try {
    return AddFromManifestUnchecked(name, manifest_bytes, staging_dir);
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, "malformed image JSON: " + std::string(e.what()));
  }
}

Result<std::vector<Image>> ImageStore::ImportUnchecked(const std::string& archive_path) {
  std::string staging = TempDir() + "/import-" + RandomHex(12);
  if (auto ok = MakeDirs(staging, 0700); !ok) return std::unexpected(ok.error());
  struct Cleanup {
    std::string dir;
    ~Cleanup() { RemoveAll(dir); }
  } cleanup{staging};
  auto fail = [&](const Error& e) { return std::unexpected(Wrap(e, "import " + archive_path)); };
  auto staged = StageArchive(archive_path, staging, limits_.max_archive_bytes);
  if (!staged) return fail(staged.error());
  std::string stem = fs::path(archive_path).filename().string();
  if (auto dot = stem.find('.'); dot != std::string::npos) stem = stem.substr(0, dot);

  std::vector<Pending> pendings;
  auto blob = [&](const Json& desc, std::string_view what) -> Result<std::string> {
    std::string digest = desc.value("digest", "");
    if (!IsValidDigest(digest))
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(what) + " has an invalid digest \"" + digest + "\"");
    const std::string* p = staged->Find("blobs/sha256/" + std::string(DigestHex(digest)));
    if (!p)
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(what) + " blob " + digest + " is missing");
    auto actual = DigestOfFile(*p);
    if (!actual) return std::unexpected(actual.error());
    if (*actual != digest)
      return Fail(ErrorCode::kInvalidArgument, std::string(what) +
                                                   " has the wrong digest: expected " + digest +
                                                   ", content is " + *actual);
    return *p;
  };

  if (staged->Find("oci-layout") && staged->Find("index.json")) {
    auto index = ReadJsonFile(*staged->Find("index.json"), limits_.max_json_bytes, "index.json");
    if (!index) return fail(index.error());
    std::vector<Json> descs;
    for (const auto& d : index->value("manifests", Json::array())) descs.push_back(d);
    for (size_t i = 0; i < descs.size(); ++i) {
      const Json desc = descs[i];
      auto path = blob(desc, "manifest");
      if (!path) return fail(path.error());
      auto m = ReadJsonFile(*path, limits_.max_json_bytes, "manifest");
      if (!m) return fail(m.error());
      std::string mt = desc.value("mediaType", m->value("mediaType", ""));
      if (mt.find("index") != std::string::npos || mt.find("manifest.list") != std::string::npos) {
        // A nested index: take the linux/amd64 entry (or the only one), keep the ref name.
        if (descs.size() > 64)
          return fail(Error(ErrorCode::kInvalidArgument, "too many manifests"));
        for (const auto& sub : m->value("manifests", Json::array())) {
          const Json plat = sub.value("platform", Json::object());
          if (plat.empty() ||
              (plat.value("os", "") == "linux" && plat.value("architecture", "") == "amd64")) {
            Json copy = sub;
            if (desc.contains("annotations")) copy["annotations"] = desc["annotations"];
            descs.push_back(copy);
            break;
          }
        }
        continue;
      }
      Pending p;
      std::string ref = RefFromAnnotation(desc, stem);
      if (!ref.empty()) p.names.push_back(ref);
      auto cfg = blob(m->value("config", Json::object()), "config");
      if (!cfg) return fail(cfg.error());
      auto cfg_text = ReadFile(*cfg);
      if (!cfg_text) return fail(cfg_text.error());
      p.config_bytes = *cfg_text;
      auto manifest_text = ReadFile(*path);
      if (!manifest_text) return fail(manifest_text.error());
      p.manifest_bytes = *manifest_text;
      for (const auto& l : m->value("layers", Json::array())) {
        auto lp = blob(l, "layer");
        if (!lp) return fail(lp.error());
        p.layers.push_back(
            {*lp, l.value("digest", ""), l.value("mediaType", std::string(kLayerTar))});
      }
      pendings.push_back(std::move(p));
    }
  } else if (const std::string* mpath = staged->Find("manifest.json")) {
    auto manifest = ReadJsonFile(*mpath, limits_.max_json_bytes, "manifest.json");
    if (!manifest) return fail(manifest.error());
    if (!manifest->is_array())
      return fail(Error(ErrorCode::kInvalidArgument, "manifest.json is not a list"));
    for (const auto& entry : *manifest) {
      Pending p;
      for (const auto& t : StringList(entry.value("RepoTags", Json::array())))
        p.names.push_back(NormalizeRef(t));
      std::string cfg_name = entry.value("Config", "");
      auto cfg_norm = NormalizeEntryPath(cfg_name);
      const std::string* cfg = cfg_norm ? staged->Find(*cfg_norm) : nullptr;
      if (!cfg)
        return fail(Error(ErrorCode::kInvalidArgument, "config \"" + cfg_name + "\" is missing"));
      auto cfg_text = ReadFile(*cfg);
      if (!cfg_text) return fail(cfg_text.error());
      // The config's file name is its digest in every docker save format.
      std::string hex = fs::path(cfg_name).filename().string();
      if (hex.ends_with(".json")) hex.resize(hex.size() - 5);
      if (IsValidDigest("sha256:" + hex) && DigestOf(*cfg_text) != "sha256:" + hex)
        return fail(Error(
            ErrorCode::kInvalidArgument,
            "config \"" + cfg_name + "\" has the wrong digest: content is " + DigestOf(*cfg_text)));
      p.config_bytes = *cfg_text;
      for (const auto& lname : StringList(entry.value("Layers", Json::array()))) {
        auto ln = NormalizeEntryPath(lname);
        const std::string* lp = ln ? staged->Find(*ln) : nullptr;
        if (!lp)
          return fail(Error(ErrorCode::kInvalidArgument, "layer \"" + lname + "\" is missing"));
        auto d = DigestOfFile(*lp);
        if (!d) return fail(d.error());
        if (lname.starts_with("blobs/sha256/") && *d != "sha256:" + lname.substr(13))
          return fail(Error(ErrorCode::kInvalidArgument,
                            "layer \"" + lname + "\" has the wrong digest: content is " + *d));
        p.layers.push_back({*lp, *d, MediaTypeOf(*lp)});
      }
      pendings.push_back(std::move(p));
    }
  } else {
    return fail(Error(ErrorCode::kInvalidArgument,
                      "neither an OCI image layout (oci-layout, index.json) nor a docker save "
                      "archive (manifest.json)"));
  }
  if (pendings.empty()) return fail(Error(ErrorCode::kInvalidArgument, "archive holds no image"));

  // All or nothing across the images of one archive: commit each, undo on a later failure.
  std::vector<Image> out;
  for (auto& p : pendings) {
    Result<Image> im = Fail(ErrorCode::kInternal, "not committed");
    try {
      im = Commit(p);
    } catch (const nlohmann::json::exception& e) {
      im = Fail(ErrorCode::kInvalidArgument, std::string("malformed image config: ") + e.what());
    }
    if (!im) {
      for (const auto& done : out) (void)Remove(done.id);
      return fail(im.error());
    }
    out.push_back(*im);
  }
  return out;
}

Result<Image> ImageStore::Commit(Pending& p) {
  auto config = ParseJson(p.config_bytes, {.max_bytes = limits_.max_json_bytes});
  if (!config) return std::unexpected(Wrap(config.error(), "image config"));
  auto diff_ids =
      StringList(config->value("rootfs", Json::object()).value("diff_ids", Json::array()));
  if (diff_ids.size() != p.layers.size())
    return Fail(ErrorCode::kInvalidArgument, "config lists " + std::to_string(diff_ids.size()) +
                                                 " layers, manifest " +
                                                 std::to_string(p.layers.size()));
  Image im;
  im.id = DigestOf(p.config_bytes);
  im.names = p.names;
  im.created_ms = NowMs();
  const Json c = config->value("config", Json::object());
  im.config.entrypoint = StringList(c.value("Entrypoint", Json::array()));
  im.config.cmd = StringList(c.value("Cmd", Json::array()));
  im.config.env = StringList(c.value("Env", Json::array()));
  im.config.user = c.value("User", "");
  im.config.working_dir = c.value("WorkingDir", "");

  // Verify every layer's content against the config before touching the store.
  for (size_t i = 0; i < p.layers.size(); ++i) {
    if (!IsValidDigest(diff_ids[i]))
      return Fail(ErrorCode::kInvalidArgument, "invalid diff_id \"" + diff_ids[i] + "\"");
    auto d = UncompressedDigest(p.layers[i].path);
    if (!d) return std::unexpected(Wrap(d.error(), "layer " + std::to_string(i)));
    if (*d != diff_ids[i])
      return Fail(ErrorCode::kInvalidArgument, "layer " + std::to_string(i) +
                                                   " has the wrong digest: config says " +
                                                   diff_ids[i] + ", content is " + *d);
    im.layers.push_back(
        {p.layers[i].digest, diff_ids[i], p.layers[i].media_type, FileSize(p.layers[i].path)});
    im.size += im.layers.back().size;
  }
  if (p.manifest_bytes.empty()) {
    Json layers = Json::array();
    for (const auto& l : im.layers)
      layers.push_back({{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.size}});
    p.manifest_bytes = Json{
        {"schemaVersion", 2},
        {"mediaType", kManifestType},
        {"config",
         {{"mediaType", kConfigType}, {"digest", im.id}, {"size", p.config_bytes.size()}}},
        {"layers", layers}}.dump();
  }
  im.manifest_digest = DigestOf(p.manifest_bytes);

  std::lock_guard lock(mu_);
  std::vector<std::string> added;  // paths to delete if anything below fails
  auto rollback = [&](const Error& e) {
    for (const auto& path : added) RemoveAll(path);
    return std::unexpected(e);
  };
  // Layers first: unpack each new one into a private directory, then rename into place.
  std::set<std::string> seen;
  for (size_t i = 0; i < im.layers.size(); ++i) {
    std::string dir = root_ + "/layers/" + std::string(DigestHex(im.layers[i].diff_id));
    if (internal::Exists(dir) || !seen.insert(dir).second) continue;
    std::string tmp = root_ + "/layers/.tmp-" + RandomHex(12);
    if (auto ok = MakeDirs(tmp, 0755); !ok) return rollback(ok.error());
    auto st = UnpackLayer(p.layers[i].path, tmp, limits_.layer);
    if (!st) {
      RemoveAll(tmp);
      return rollback(Wrap(st.error(), "layer " + im.layers[i].diff_id));
    }
    if (::rename(tmp.c_str(), dir.c_str()) != 0) {
      RemoveAll(tmp);
      return rollback(
          Error(ErrorCode::kInternal, "rename layer: " + std::string(std::strerror(errno))));
    }
    added.push_back(dir);
  }
  // Blobs: content-addressed, so an existing one is already right.
  auto put_bytes = [&](const std::string& bytes, const std::string& digest) -> Result<void> {
    std::string path = BlobPath(digest);
    if (internal::Exists(path)) return {};
    if (DigestOf(bytes) != digest)
      return Fail(ErrorCode::kInternal, "blob digest changed while writing " + digest);
    if (auto ok = WriteFileAtomic(path, bytes, 0600); !ok) return ok;
    added.push_back(path);
    return {};
  };
  if (auto ok = put_bytes(p.config_bytes, im.id); !ok) return rollback(ok.error());
  if (auto ok = put_bytes(p.manifest_bytes, im.manifest_digest); !ok) return rollback(ok.error());
  for (size_t i = 0; i < im.layers.size(); ++i) {
    std::string path = BlobPath(im.layers[i].digest);
    if (internal::Exists(path)) continue;
    auto d = DigestOfFile(p.layers[i].path);  // verified as it enters the store
    if (!d || *d != im.layers[i].digest)
      return rollback(
          Error(ErrorCode::kInvalidArgument, "layer blob " + im.layers[i].digest + " changed"));
    if (::rename(p.layers[i].path.c_str(), path.c_str()) != 0) {
      std::error_code ec;
      fs::copy_file(p.layers[i].path, path, ec);
      if (ec)
        return rollback(Error(ErrorCode::kInternal, "store blob " + path + ": " + ec.message()));
    }
    p.layers[i].path = path;
    added.push_back(path);
  }
  // Index: names move to the new image; an image left without names is dropped.
  auto old = images_;
  for (auto& other : images_)
    std::erase_if(other.names, [&](const std::string& n) {
      return std::find(im.names.begin(), im.names.end(), n) != im.names.end();
    });
  bool merged = false;
  for (auto& other : images_)
    if (other.id == im.id) {
      for (const auto& n : im.names)
        if (std::find(other.names.begin(), other.names.end(), n) == other.names.end())
          other.names.push_back(n);
      im = other;
      merged = true;
    }
  if (!merged) images_.push_back(im);
  std::erase_if(images_, [](const Image& x) { return x.names.empty(); });
  if (!merged && im.names.empty()) images_.push_back(im);  // keep an unnamed import by id
  if (auto ok = SaveLocked(); !ok) {
    images_ = old;
    return rollback(ok.error());
  }
  CollectGarbageLocked();
  return im;
}

Result<Image> ImageStore::Build(const std::string& dir, const BuildOptions& options) {
  if (options.name.empty()) return Fail(ErrorCode::kInvalidArgument, "build: a name is required");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Fail(ErrorCode::kInvalidArgument, "build: " + dir + " is not a directory");
  std::string staging = TempDir() + "/build-" + RandomHex(12);
  if (auto ok = MakeDirs(staging, 0700); !ok) return std::unexpected(ok.error());
  struct Cleanup {
    std::string dir;
    ~Cleanup() { RemoveAll(dir); }
  } cleanup{staging};
  std::string layer_path = staging + "/layer.tar";

  std::unique_ptr<archive, decltype(&archive_write_free)> w(archive_write_new(),
                                                            archive_write_free);
  archive_write_set_format_pax_restricted(w.get());
  if (archive_write_open_filename(w.get(), layer_path.c_str()) != ARCHIVE_OK)
    return Fail(ErrorCode::kInternal, "build: " + std::string(archive_error_string(w.get())));
  std::vector<fs::path> paths;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    paths.push_back(it->path());
  if (ec) return Fail(ErrorCode::kInternal, "build: walk " + dir + ": " + ec.message());
  std::sort(paths.begin(), paths.end());  // deterministic layers
  for (const auto& path : paths) {
    struct stat s;
    if (::lstat(path.c_str(), &s) != 0) continue;
    if (!S_ISREG(s.st_mode) && !S_ISDIR(s.st_mode) && !S_ISLNK(s.st_mode)) continue;
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    std::string rel = path.lexically_relative(dir).string();
    archive_entry_copy_stat(e.get(), &s);
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_nlink(e.get(), 1);
    if (S_ISLNK(s.st_mode)) {
      auto target = fs::read_symlink(path, ec);
      archive_entry_set_symlink(e.get(), target.c_str());
    }
    if (!S_ISREG(s.st_mode)) archive_entry_set_size(e.get(), 0);
    if (archive_write_header(w.get(), e.get()) != ARCHIVE_OK)
      return Fail(ErrorCode::kInternal, "build: " + rel + ": " + archive_error_string(w.get()));
    if (S_ISREG(s.st_mode)) {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Fail(ErrorCode::kInternal, "build: open " + path.string());
      char buf[1 << 16];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0)
        archive_write_data(w.get(), buf, static_cast<size_t>(n));
      ::close(fd);
    }
  }
  if (archive_write_close(w.get()) != ARCHIVE_OK)
    return Fail(ErrorCode::kInternal, "build: " + std::string(archive_error_string(w.get())));
  auto diff_id = DigestOfFile(layer_path);
  if (!diff_id) return std::unexpected(diff_id.error());

  Json cfg = {
      {"Env",
       options.env.empty()
           ? std::vector<
                 std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
           : options.env}};
  if (!options.entrypoint.empty()) cfg["Entrypoint"] = options.entrypoint;
  if (!options.cmd.empty()) cfg["Cmd"] = options.cmd;
  if (!options.user.empty()) cfg["User"] = options.user;
  if (!options.working_dir.empty()) cfg["WorkingDir"] = options.working_dir;
  Json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", cfg},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {*diff_id}}}},
                 {"history", {{{"created_by", "berth image build"}}}}};
  Pending p;
  p.names.push_back(NormalizeRef(options.name));
  p.config_bytes = config.dump();
  p.layers.push_back({layer_path, *diff_id, std::string(kLayerTar)});
  return Commit(p);
}

Result<Image> ImageStore::AddFromManifestUnchecked(const std::string& name,
                                                   const std::string& manifest_bytes,
                                                   const std::string& staging_dir) {
  auto m = ParseJson(manifest_bytes, {.max_bytes = limits_.max_json_bytes});
  if (!m) return std::unexpected(Wrap(m.error(), "manifest"));
  Pending p;
  p.names.push_back(NormalizeRef(name));
  p.manifest_bytes = manifest_bytes;
  auto staged = [&](const Json& desc) -> Result<std::string> {
    std::string digest = desc.value("digest", "");
    if (!IsValidDigest(digest))
      return Fail(ErrorCode::kInvalidArgument, "invalid digest " + digest);
    std::string path = staging_dir + "/" + std::string(DigestHex(digest));
    auto d = DigestOfFile(path);
    if (!d) return std::unexpected(d.error());
    if (*d != digest)
      return Fail(ErrorCode::kInvalidArgument,
                  "blob has the wrong digest: expected " + digest + ", content is " + *d);
    return path;
  };
  auto cfg = staged(m->value("config", Json::object()));
  if (!cfg) return std::unexpected(cfg.error());
  auto text = ReadFile(*cfg);
  if (!text) return std::unexpected(text.error());
  p.config_bytes = *text;
  for (const auto& l : m->value("layers", Json::array())) {
    auto path = staged(l);
    if (!path) return std::unexpected(path.error());
    p.layers.push_back(
        {*path, l.value("digest", ""), l.value("mediaType", std::string(kLayerTar))});
  }
  return Commit(p);
}

std::vector<Image> ImageStore::List() const {
  std::lock_guard lock(mu_);
  return images_;
}

Result<const Image*> ImageStore::FindLocked(std::string_view ref) const {
  std::string r(ref);
  if (r.starts_with("sha256:")) r = r.substr(7);
  bool hexish = r.size() >= 12 && std::all_of(r.begin(), r.end(), [](char c) {
                  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                });
  if (hexish) {
    const Image* found = nullptr;
    for (const auto& im : images_)
      if (DigestHex(im.id).starts_with(r)) {
        if (found)
          return Fail(ErrorCode::kInvalidArgument, "image id prefix " + r + " is ambiguous");
        found = &im;
      }
    if (found) return found;
  }
  std::string name = NormalizeRef(ref);
  for (const auto& im : images_)
    if (std::find(im.names.begin(), im.names.end(), name) != im.names.end()) return &im;
  return Fail(ErrorCode::kNotFound, "no image " + std::string(ref));
}

Result<Image> ImageStore::Inspect(std::string_view ref) const {
  std::lock_guard lock(mu_);
  auto im = FindLocked(ref);
  if (!im) return std::unexpected(im.error());
  return **im;
}

Result<void> ImageStore::Remove(std::string_view ref) {
  std::lock_guard lock(mu_);
  auto found = FindLocked(ref);
  if (!found) return std::unexpected(found.error());
  std::string id = (*found)->id;
  std::string name = NormalizeRef(ref);
  auto old = images_;
  for (auto it = images_.begin(); it != images_.end(); ++it) {
    if (it->id != id) continue;
    auto n = std::find(it->names.begin(), it->names.end(), name);
    if (n != it->names.end() && it->names.size() > 1) {
      it->names.erase(n);
    } else {
      images_.erase(it);
    }
    break;
  }
  if (auto ok = SaveLocked(); !ok) {
    images_ = old;
    return ok;
  }
  CollectGarbageLocked();
  return {};
}

void ImageStore::CollectGarbageLocked() {
  std::set<std::string> blobs, layers;
  for (const auto& im : images_) {
    blobs.insert(std::string(DigestHex(im.id)));
    blobs.insert(std::string(DigestHex(im.manifest_digest)));
    for (const auto& l : im.layers) {
      blobs.insert(std::string(DigestHex(l.digest)));
      layers.insert(std::string(DigestHex(l.diff_id)));
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256", ec))
    if (!blobs.count(e.path().filename().string())) RemoveAll(e.path());
  for (const auto& e : fs::directory_iterator(root_ + "/layers", ec)) {
    std::string n = e.path().filename().string();
    if (!n.starts_with(".tmp") && !layers.count(n)) RemoveAll(e.path());
  }
}

Result<std::vector<std::string>> ImageStore::LayerDirs(std::string_view ref) const {
  std::lock_guard lock(mu_);
  auto im = FindLocked(ref);
  if (!im) return std::unexpected(im.error());
  std::vector<std::string> out;
  for (const auto& l : (*im)->layers)
    out.push_back(root_ + "/layers/" + std::string(DigestHex(l.diff_id)));
  return out;
}

Result<void> ImageStore::ExportOciArchive(std::string_view ref, const std::string& path) const {
  auto im = Inspect(ref);
  if (!im) return std::unexpected(im.error());
  auto manifest = ReadFile(BlobPath(im->manifest_digest));
  if (!manifest) return std::unexpected(manifest.error());
  Json desc = {
      {"mediaType", kManifestType}, {"digest", im->manifest_digest}, {"size", manifest->size()}};
  if (!im->names.empty())
    desc["annotations"] = {{"org.opencontainers.image.ref.name", im->names.front()},
                           {"io.containerd.image.name", im->names.front()}};
  std::string index = Json{{"schemaVersion", 2}, {"manifests", {desc}}}.dump();
  std::string layout = R"({"imageLayoutVersion":"1.0.0"})";

  std::unique_ptr<archive, decltype(&archive_write_free)> w(archive_write_new(),
                                                            archive_write_free);
  archive_write_set_format_pax_restricted(w.get());
  if (archive_write_open_filename(w.get(), path.c_str()) != ARCHIVE_OK)
    return Fail(ErrorCode::kInternal, "export: " + std::string(archive_error_string(w.get())));
  auto add = [&](const std::string& name, const std::string& data) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    archive_write_header(w.get(), e.get());
    archive_write_data(w.get(), data.data(), data.size());
  };
  add("oci-layout", layout);
  add("index.json", index);
  std::set<std::string> done;
  std::vector<std::string> digests = {im->manifest_digest, im->id};
  for (const auto& l : im->layers) digests.push_back(l.digest);
  for (const auto& d : digests) {
    if (!done.insert(d).second) continue;
    auto data = ReadFile(BlobPath(d));
    if (!data) return std::unexpected(data.error());
    add("blobs/sha256/" + std::string(DigestHex(d)), *data);
  }
  if (archive_write_close(w.get()) != ARCHIVE_OK)
    return Fail(ErrorCode::kInternal, "export: " + std::string(archive_error_string(w.get())));
  return {};
}

}  // namespace berth::agent::image
