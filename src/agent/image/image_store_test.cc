#include "agent/image/image_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "agent/image/digest.h"
#include "agent/image/test_archive.h"
#include "agent/internal/sys.h"
#include "core/json.h"

namespace berth::agent::image {
namespace {

using namespace testing;
namespace fs = std::filesystem;

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("berth-images-test-" + internal::RandomHex(8));
    fs::create_directories(root_);
    auto s = ImageStore::Open(root_ / "store");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A `docker save` style archive: <n>/layer.tar, <config hex>.json, manifest.json.
  // `diff_id_override` replaces the first layer's diff_id in the config (wrong digest).
  std::string DockerArchive(const std::string& name,
                            const std::vector<std::vector<TarEntry>>& layers,
                            const std::string& diff_id_override = "") {
    std::vector<TarEntry> outer;
    Json diff_ids = Json::array();
    Json layer_names = Json::array();
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string path =
          root_ / ("layer" + std::to_string(i) + "-" + internal::RandomHex(4) + ".tar");
      EXPECT_TRUE(WriteTar(path, layers[i]));
      std::string data = *internal::ReadFile(path);
      diff_ids.push_back(i == 0 && !diff_id_override.empty() ? diff_id_override : DigestOf(data));
      std::string lname = "l" + std::to_string(i) + "/layer.tar";
      layer_names.push_back(lname);
      outer.push_back(File(lname, data));
    }
    std::string config =
        Json{{"architecture", "amd64"},
             {"os", "linux"},
             {"config", {{"Entrypoint", {"/bin/sh"}}, {"Env", {"A=1"}}, {"User", "1000"}}},
             {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
            .dump();
    std::string cfg_name = std::string(DigestHex(DigestOf(config))) + ".json";
    outer.push_back(File(cfg_name, config));
    outer.push_back(
        File("manifest.json",
             Json::array({{{"Config", cfg_name}, {"RepoTags", {name}}, {"Layers", layer_names}}})
                 .dump()));
    std::string out = root_ / (internal::RandomHex(6) + ".tar");
    EXPECT_TRUE(WriteTar(out, outer));
    return out;
  }

  // Every path under the store (names and sizes), to prove a failed import changed nothing.
  std::set<std::string> Snapshot() const {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root_ / "store"))
      out.insert(e.path().string() +
                 (e.is_regular_file() ? ":" + std::to_string(e.file_size()) : ""));
    return out;
  }

  fs::path root_;
  std::unique_ptr<ImageStore> store_;
};

const std::vector<TarEntry> kBase = {Dir("bin"), File("bin/tool", "v1", 0755),
                                     File("etc/motd", "hi")};

TEST_F(ImageStoreTest, ImportsDockerSaveArchive) {
  auto imported =
      store_->Import(DockerArchive("app:1", {kBase, {File("etc/.wh.motd", ""), File("app", "x")}}));
  ASSERT_TRUE(imported) << imported.error().message;
  ASSERT_EQ(imported->size(), 1u);
  auto im = store_->Inspect("app:1");
  ASSERT_TRUE(im) << im.error().message;
  EXPECT_EQ(im->layers.size(), 2u);
  EXPECT_EQ(im->config.entrypoint, std::vector<std::string>{"/bin/sh"});
  EXPECT_EQ(im->config.user, "1000");
  auto dirs = store_->LayerDirs("app:1");
  ASSERT_TRUE(dirs);
  EXPECT_TRUE(fs::exists((*dirs)[0] + "/bin/tool"));
  EXPECT_TRUE(fs::exists((*dirs)[1] + "/app"));
  EXPECT_TRUE(fs::exists(store_->BlobPath(im->id)));
  EXPECT_TRUE(store_->Inspect(std::string(DigestHex(im->id)).substr(0, 12)));
}

TEST_F(ImageStoreTest, SharedLayersAreStoredOnce) {
  ASSERT_TRUE(store_->Import(DockerArchive("a:1", {kBase, {File("a", "a")}})));
  ASSERT_TRUE(store_->Import(DockerArchive("b:1", {kBase, {File("b", "b")}})));
  size_t layers = 0;
  for (const auto& e : fs::directory_iterator(root_ / "store/layers")) layers += e.is_directory();
  EXPECT_EQ(layers, 3u);
  ASSERT_TRUE(store_->Remove("a:1"));
  layers = 0;
  for (const auto& e : fs::directory_iterator(root_ / "store/layers")) layers += e.is_directory();
  EXPECT_EQ(layers, 2u);  // the shared base stays for b:1
  EXPECT_FALSE(store_->Inspect("a:1"));
  EXPECT_TRUE(store_->Inspect("b:1"));
}

TEST_F(ImageStoreTest, BuildsOneLayerImageFromDirectory) {
  fs::path dir = root_ / "ctx";
  fs::create_directories(dir / "bin");
  std::ofstream(dir / "bin/app") << "#!/bin/sh\necho hi\n";
  fs::create_symlink("app", dir / "bin/alias");
  BuildOptions opts;
  opts.name = "built";
  opts.entrypoint = {"/bin/app"};
  opts.env = {"MODE=test"};
  opts.user = "65534";
  auto im = store_->Build(dir, opts);
  ASSERT_TRUE(im) << im.error().message;
  EXPECT_EQ(im->names, std::vector<std::string>{"built:latest"});
  EXPECT_EQ(im->layers.size(), 1u);
  EXPECT_EQ(im->config.entrypoint, std::vector<std::string>{"/bin/app"});
  EXPECT_EQ(im->config.user, "65534");
  auto dirs = store_->LayerDirs("built");
  ASSERT_TRUE(dirs);
  EXPECT_TRUE(fs::exists((*dirs)[0] + "/bin/app"));
  EXPECT_TRUE(fs::is_symlink((*dirs)[0] + "/bin/alias"));
  // Building the same directory again gives the same content-addressed image.
  auto again = store_->Build(dir, opts);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, im->id);
  EXPECT_EQ(store_->List().size(), 1u);
}

TEST_F(ImageStoreTest, ExportedOciArchiveImportsElsewhere) {
  ASSERT_TRUE(store_->Import(DockerArchive("round:trip", {kBase})));
  std::string oci = root_ / "export.tar";
  ASSERT_TRUE(store_->ExportOciArchive("round:trip", oci));
  auto other = ImageStore::Open(root_ / "other");
  ASSERT_TRUE(other);
  auto imported = (*other)->Import(oci);
  ASSERT_TRUE(imported) << imported.error().message;
  auto a = store_->Inspect("round:trip");
  auto b = (*other)->Inspect("round:trip");
  ASSERT_TRUE(b);
  EXPECT_EQ(a->id, b->id);
  EXPECT_EQ(a->manifest_digest, b->manifest_digest);
}

struct Hostile {
  const char* name;
  std::vector<TarEntry> layer;
  const char* expect;
};

class HostileArchiveTest : public ImageStoreTest, public ::testing::WithParamInterface<Hostile> {};

TEST_P(HostileArchiveTest, IsRejectedAndLeavesStoreUnchanged) {
  ASSERT_TRUE(store_->Import(DockerArchive("keep:1", {kBase})));
  auto before = Snapshot();
  auto r = store_->Import(DockerArchive("evil:1", {{File("ok", "fine")}, GetParam().layer}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(GetParam().expect), std::string::npos) << r.error().message;
  EXPECT_EQ(Snapshot(), before);
  EXPECT_FALSE(store_->Inspect("evil:1"));
  EXPECT_TRUE(store_->Inspect("keep:1"));
}

INSTANTIATE_TEST_SUITE_P(
    Layers, HostileArchiveTest,
    ::testing::Values(
        Hostile{"traversal", {File("../../etc/cron.d/x", "x")}, "path traversal"},
        Hostile{"absolute", {File("/etc/passwd", "x")}, "absolute"},
        Hostile{"symlink", {Symlink("d", "/etc"), File("d/passwd", "x")}, "symlink escape"},
        Hostile{"hardlink", {Hardlink("h", "../../etc/shadow")}, "path traversal"},
        Hostile{"device", {CharDevice("dev/kmsg")}, "device node"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(ImageStoreTest, WrongDiffIdIsRejected) {
  auto before = Snapshot();
  auto r = store_->Import(DockerArchive("bad:1", {kBase}, DigestOf("something else")));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("wrong digest"), std::string::npos) << r.error().message;
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ImageStoreTest, TruncatedArchiveIsRejected) {
  std::string path = DockerArchive("cut:1", {{File("big", internal::RandomHex(300000))}});
  fs::resize_file(path, fs::file_size(path) / 2);
  auto before = Snapshot();
  auto r = store_->Import(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ImageStoreTest, OuterArchiveTraversalIsRejected) {
  std::string path = root_ / "outer.tar";
  ASSERT_TRUE(WriteTar(path, {File("../../outside", "x"), File("manifest.json", "[]")}));
  auto r = store_->Import(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("path traversal"), std::string::npos);
}

TEST_F(ImageStoreTest, LeftoversOfAnInterruptedImportAreDiscardedOnOpen) {
  ASSERT_TRUE(store_->Import(DockerArchive("keep:1", {kBase})));
  fs::create_directories(root_ / "store/tmp/import-dead/f0");
  fs::create_directories(root_ / "store/layers/.tmp-dead/bin");
  store_.reset();
  auto reopened = ImageStore::Open(root_ / "store");
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(fs::exists(root_ / "store/tmp/import-dead"));
  EXPECT_FALSE(fs::exists(root_ / "store/layers/.tmp-dead"));
  EXPECT_TRUE((*reopened)->Inspect("keep:1"));
  EXPECT_TRUE((*reopened)->LayerDirs("keep:1"));
}

// Regression: a number where a digest string belongs threw out of Import (found by the
// image_archive fuzz seeds).
TEST_F(ImageStoreTest, WrongTypedJsonIsAnErrorNotAnException) {
  std::string oci = root_ / "types.tar";
  ASSERT_TRUE(WriteTar(
      oci, {File("oci-layout", "{}"), File("index.json", R"({"manifests":[{"digest":7}]})")}));
  auto r = store_->Import(oci);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  std::string docker = root_ / "types2.tar";
  ASSERT_TRUE(WriteTar(docker, {File("c.json", R"({"rootfs":[1,2]})"),
                                File("manifest.json", R"([{"Config":"c.json","Layers":[]}])")}));
  auto r2 = store_->Import(docker);
  ASSERT_FALSE(r2);
  EXPECT_TRUE(store_->List().empty());
}

TEST_F(ImageStoreTest, OciBlobWithWrongDigestIsRejected) {
  ASSERT_TRUE(store_->Import(DockerArchive("x:1", {kBase})));
  std::string oci = root_ / "x.tar";
  ASSERT_TRUE(store_->ExportOciArchive("x:1", oci));
  ASSERT_TRUE(store_->Remove("x:1"));
  // Rewrite the archive with one layer blob's content changed.
  auto im_dir = root_ / "unpacked";
  fs::create_directories(im_dir);
  ASSERT_EQ(internal::Run({"tar", "-xf", oci, "-C", im_dir})->exit_code, 0);
  for (const auto& e : fs::directory_iterator(im_dir / "blobs/sha256"))
    if (fs::file_size(e.path()) > 1000) std::ofstream(e.path(), std::ios::app) << "tampered";
  std::string bad = root_ / "bad.tar";
  ASSERT_EQ(internal::Run({"tar", "-cf", bad, "-C", im_dir, "."})->exit_code, 0);
  auto before = Snapshot();
  auto r = store_->Import(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("wrong digest"), std::string::npos) << r.error().message;
  EXPECT_EQ(Snapshot(), before);
}

}  // namespace
}  // namespace berth::agent::image
