#include "agent/image/layer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/image/test_archive.h"
#include "agent/internal/sys.h"

namespace berth::agent::image {
namespace {

using namespace testing;
namespace fs = std::filesystem;

class LayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("berth-layer-test-" + internal::RandomHex(8));
    fs::create_directories(root_ / "out");
  }
  void TearDown() override { fs::remove_all(root_); }
  Result<UnpackStats> Unpack(const std::vector<TarEntry>& entries, LayerLimits limits = {}) {
    std::string tar = root_ / "layer.tar";
    EXPECT_TRUE(WriteTar(tar, entries));
    return UnpackLayer(tar, root_ / "out", limits);
  }
  std::string Out(const std::string& rel) const { return (root_ / "out" / rel).string(); }
  fs::path root_;
};

TEST(NormalizeEntryPathTest, CleansDotsAndSlashes) {
  EXPECT_EQ(*NormalizeEntryPath("./a//b/./c/"), "a/b/c");
  EXPECT_EQ(*NormalizeEntryPath("./"), "");
}

TEST(NormalizeEntryPathTest, RejectsTraversalAndAbsolutePaths) {
  EXPECT_FALSE(NormalizeEntryPath("../etc/passwd"));
  EXPECT_FALSE(NormalizeEntryPath("a/../../b"));
  EXPECT_FALSE(NormalizeEntryPath("a/.."));
  auto abs = NormalizeEntryPath("/etc/passwd");
  ASSERT_FALSE(abs);
  EXPECT_NE(abs.error().message.find("absolute"), std::string::npos);
}

TEST(SymlinkClimbsAboveRootTest, JudgesRelativeTargets) {
  EXPECT_FALSE(SymlinkClimbsAboveRoot("bin/sh", "busybox"));
  EXPECT_FALSE(SymlinkClimbsAboveRoot("usr/lib/x", "../../lib/x"));
  EXPECT_TRUE(SymlinkClimbsAboveRoot("usr/lib/x", "../../../etc/shadow"));
  EXPECT_TRUE(SymlinkClimbsAboveRoot("x", ".."));
  EXPECT_FALSE(SymlinkClimbsAboveRoot("bin/sh", "/bin/busybox"));  // resolves in the container
}

TEST_F(LayerTest, UnpacksFilesDirsLinks) {
  auto st =
      Unpack({Dir("bin"), File("bin/busybox", "ELF", 0755), Symlink("bin/sh", "busybox"),
              Hardlink("bin/ls", "bin/busybox"), File("etc/passwd", "root:x:0:0::/:/bin/sh\n")});
  ASSERT_TRUE(st) << st.error().message;
  struct stat s;
  ASSERT_EQ(::stat(Out("bin/busybox").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0755u);
  EXPECT_EQ(s.st_nlink, 2u);
  EXPECT_EQ(fs::read_symlink(Out("bin/sh")), "busybox");
  EXPECT_TRUE(fs::exists(Out("etc/passwd")));
}

TEST_F(LayerTest, TurnsWhiteoutsIntoOverlayForm) {
  auto st = Unpack(
      {Dir("etc"), File("etc/.wh.motd", ""), Dir("var/cache"), File("var/cache/.wh..wh..opq", "")});
  ASSERT_TRUE(st) << st.error().message;
  struct stat s;
  ASSERT_EQ(::lstat(Out("etc/motd").c_str(), &s), 0);
  EXPECT_TRUE(S_ISCHR(s.st_mode));
  EXPECT_EQ(s.st_rdev, makedev(0, 0));
  EXPECT_FALSE(fs::exists(Out("etc/.wh.motd")));
  char v[4] = {};
  ASSERT_EQ(::lgetxattr(Out("var/cache").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
}

TEST_F(LayerTest, RejectsPathTraversal) {
  auto st = Unpack({File("../escape", "x")});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("path traversal"), std::string::npos) << st.error().message;
  EXPECT_FALSE(fs::exists(root_ / "escape"));
}

TEST_F(LayerTest, RejectsAbsolutePaths) {
  auto st = Unpack({File("/tmp/berth-absolute-escape", "x")});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("absolute"), std::string::npos);
}

TEST_F(LayerTest, RejectsWritingThroughSymlink) {
  fs::create_directories(root_ / "victim");
  auto st = Unpack({Symlink("evil", (root_ / "victim").string()), File("evil/owned", "x")});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("symlink escape"), std::string::npos) << st.error().message;
  EXPECT_FALSE(fs::exists(root_ / "victim/owned"));
}

TEST_F(LayerTest, RejectsSymlinkClimbingAboveRoot) {
  auto st = Unpack({Symlink("etc/shadow", "../../../../etc/shadow")});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("escapes the root"), std::string::npos);
}

TEST_F(LayerTest, RejectsHardlinkEscape) {
  auto st = Unpack({Hardlink("passwd", "../../../../etc/passwd")});
  ASSERT_FALSE(st);
  auto st2 = Unpack({Hardlink("passwd", "etc/passwd")});  // not in this layer
  ASSERT_FALSE(st2);
  EXPECT_NE(st2.error().message.find("hardlink escape"), std::string::npos) << st2.error().message;
}

TEST_F(LayerTest, RejectsDeviceNodes) {
  auto st = Unpack({CharDevice("dev/mem")});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("device node"), std::string::npos);
}

TEST_F(LayerTest, RejectsOversizeLayers) {
  LayerLimits limits;
  limits.max_bytes = 100;
  auto st = Unpack({File("a", std::string(60, 'a')), File("b", std::string(60, 'b'))}, limits);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("larger than the limit"), std::string::npos);
}

TEST_F(LayerTest, RejectsTruncatedArchives) {
  std::string tar = root_ / "full.tar.gz";
  ASSERT_TRUE(
      WriteTar(tar, {File("big", std::string(200000, 'x') + internal::RandomHex(20000))}, true));
  auto size = fs::file_size(tar);
  fs::resize_file(tar, size / 2);
  auto st = UnpackLayer(tar, root_ / "out");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("truncated"), std::string::npos) << st.error().message;
  EXPECT_FALSE(UncompressedDigest(tar));
}

}  // namespace
}  // namespace berth::agent::image
