// ImageFs over real layer directories laid out as the image store unpacks them (whiteouts as
// 0/0 character devices, opaque directories by xattr), and hostile symlinks that point out of
// the image: nothing outside the layers is ever read.
#include "security/scan/image_fs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness/harness.h"

namespace berth::security::scan {
namespace {

namespace fs = std::filesystem;

class ImageFsTest : public ::testing::Test {
 protected:
  std::string Layer(int n) { return dir_.Sub("layer" + std::to_string(n)); }
  void Write(int layer, const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(Layer(layer) + path).parent_path());
    std::ofstream(Layer(layer) + path) << text;
  }
  void Link(int layer, const std::string& path, const std::string& target) {
    fs::create_directories(fs::path(Layer(layer) + path).parent_path());
    fs::create_symlink(target, Layer(layer) + path);
  }
  void Whiteout(int layer, const std::string& path) {
    fs::create_directories(fs::path(Layer(layer) + path).parent_path());
    ASSERT_EQ(::mknod((Layer(layer) + path).c_str(), S_IFCHR | 0000, makedev(0, 0)), 0);
  }
  std::unique_ptr<ImageFs> Open(int layers) {
    std::vector<std::string> dirs;
    for (int i = 0; i < layers; ++i) {
      fs::create_directories(Layer(i));
      dirs.push_back(Layer(i));
    }
    auto f = ImageFs::Open(dirs);
    EXPECT_TRUE(f.has_value());
    return f ? std::move(*f) : nullptr;
  }
  // A file outside the image that no read may return.
  std::string HostSecret() {
    std::string path = dir_.Sub("host/etc/shadow");
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << "HOST-SECRET";
    return path;
  }

  testing::TempDir dir_{"berth-imagefs"};
};

TEST_F(ImageFsTest, ReadsTheTopmostVersionAndSaysWhichLayer) {
  Write(0, "/etc/os-release", "ID=debian\n");
  Write(0, "/a", "old");
  Write(2, "/a", "new");
  auto img = Open(3);
  EXPECT_EQ(img->ReadFile("/a", 100).value(), "new");
  EXPECT_EQ(img->Stat("/a")->layer, 2u);
  EXPECT_EQ(img->Stat("/etc/os-release")->layer, 0u);
  EXPECT_EQ(img->ReadFile("/a", 2).error().code, ErrorCode::kInvalidArgument);  // too large
}

TEST_F(ImageFsTest, WhiteoutsAndOpaqueDirectoriesHideLowerLayers) {
  Write(0, "/usr/bin/tool", "x");
  Write(0, "/usr/bin/kept", "x");
  Write(0, "/opt/app/old.txt", "x");
  Whiteout(1, "/usr/bin/tool");
  Write(1, "/opt/app/new.txt", "x");
  ASSERT_EQ(::setxattr((Layer(1) + "/opt/app").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  auto img = Open(2);
  EXPECT_EQ(img->Stat("/usr/bin/tool").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(img->List("/usr/bin").value(), std::vector<std::string>{"kept"});
  EXPECT_EQ(img->List("/opt/app").value(), std::vector<std::string>{"new.txt"});
  EXPECT_EQ(img->Stat("/opt/app/old.txt").error().code, ErrorCode::kNotFound);
  std::vector<std::string> walked;
  ASSERT_TRUE(img->Walk([&](const ImageFile& f) {
                   walked.push_back(f.path + "@" + std::to_string(f.layer));
                   return true;
                 })
                  .has_value());
  EXPECT_EQ(walked, (std::vector<std::string>{"/opt/app/new.txt@1", "/usr/bin/kept@0"}));
}

TEST_F(ImageFsTest, SymlinksResolveInsideTheImageAcrossLayers) {
  Write(0, "/usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
  Link(1, "/etc/os-release", "../usr/lib/os-release");
  Link(1, "/lib", "usr/lib");
  Link(1, "/abs", "/usr/lib/os-release");
  auto img = Open(2);
  EXPECT_EQ(img->ReadFile("/etc/os-release", 100).value(), "ID=debian\nVERSION_ID=\"12\"\n");
  EXPECT_EQ(img->ReadFile("/lib/os-release", 100).value(), "ID=debian\nVERSION_ID=\"12\"\n");
  EXPECT_EQ(img->Stat("/abs")->path, "/usr/lib/os-release");
}

TEST_F(ImageFsTest, AbsoluteSymlinkToAHostFileIsNotFollowedOutOfTheImage) {
  const std::string secret = HostSecret();
  Link(0, "/var/lib/dpkg/status", secret);  // absolute: from the image's root
  auto img = Open(1);
  auto r = img->ReadFile("/var/lib/dpkg/status", 1 << 20);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << r.error().message;
  EXPECT_EQ(img->SymlinkTarget("/var/lib/dpkg/status"), secret);
}

TEST_F(ImageFsTest, DotDotNeverClimbsAboveTheImagesRoot) {
  const std::string secret = HostSecret();
  // As many ".." as it takes to reach / on the host, then the host path.
  std::string up;
  for (int i = 0; i < 40; ++i) up += "../";
  Link(0, "/var/lib/dpkg/status", up + secret.substr(1));
  Write(0, "/etc/shadow", "IMAGE-SHADOW");
  auto img = Open(1);
  auto r = img->ReadFile("/var/lib/dpkg/status", 1 << 20);
  ASSERT_FALSE(r.has_value());  // resolves to the image's own <secret path>, which it lacks
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << r.error().message;
  // The same trick aimed at a file the image has reads the image's file.
  Link(0, "/var/lib/other", up + "etc/shadow");
  EXPECT_EQ(img->ReadFile("/var/lib/other", 100).value(), "IMAGE-SHADOW");
}

TEST_F(ImageFsTest, ADirectorySymlinkToTheHostIsResolvedInTheImage) {
  const std::string secret = HostSecret();
  const std::string host_dir = fs::path(secret).parent_path().parent_path().string();
  fs::create_directories(host_dir + "/lib/dpkg");
  std::ofstream(host_dir + "/lib/dpkg/status") << "Package: host\n";
  Link(0, "/var", host_dir);  // /var -> <host dir>: a lookup through it must stay inside
  auto img = Open(1);
  auto r = img->ReadFile("/var/lib/dpkg/status", 1 << 20);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << r.error().message;
  std::vector<std::string> walked;
  ASSERT_TRUE(img->Walk([&](const ImageFile& f) {
                   walked.push_back(f.path);
                   return true;
                 })
                  .has_value());
  EXPECT_TRUE(walked.empty()) << "the walk followed a symlink: " << walked.front();
}

TEST_F(ImageFsTest, SymlinkLoopsAndFilesUsedAsDirectoriesAreErrors) {
  Link(0, "/a", "b");
  Link(0, "/b", "a");
  Write(0, "/file", "x");
  Link(0, "/dev/null-ish", "/dev/null");
  auto img = Open(1);
  auto loop = img->ReadFile("/a", 100);
  ASSERT_FALSE(loop.has_value());
  EXPECT_NE(loop.error().message.find("symlinks (a loop?)"), std::string::npos);
  EXPECT_EQ(img->ReadFile("/file/x", 100).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(img->ReadFile("/dev/null-ish", 100).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace berth::security::scan
