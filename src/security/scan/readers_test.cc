// Package readers on real files: this machine's dpkg status (904 packages here), a Python
// package's METADATA from this machine, an npm lockfile npm wrote (testdata/), plus apk and
// Cargo databases in their documented forms; garbage in each gets an error naming file and
// line. And a whole image inventory with its CycloneDX and SPDX documents.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "harness/harness.h"
#include "security/scan/inventory.h"

namespace berth::security::scan {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const ImageFile kStatus{.path = "/var/lib/dpkg/status", .layer = 0};

TEST(DpkgReader, ReadsEveryInstalledPackageOfThisMachine) {
  std::string text = Slurp("/var/lib/dpkg/status");
  ASSERT_FALSE(text.empty());
  size_t installed = 0;
  for (size_t p = 0; (p = text.find("\nStatus: install ok installed\n", p)) != std::string::npos;
       ++p)
    ++installed;
  if (text.starts_with("Status: install ok installed\n")) ++installed;
  std::vector<Package> pkgs;
  auto r = ReadDpkgStatus(text, kStatus, &pkgs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(pkgs.size(), installed);
  auto ssl =
      std::find_if(pkgs.begin(), pkgs.end(), [](const Package& p) { return p.name == "libssl3"; });
  ASSERT_NE(ssl, pkgs.end());
  EXPECT_EQ(ssl->SourceName(), "openssl");
  EXPECT_EQ(ssl->type, "deb");
  auto dpkg =
      std::find_if(pkgs.begin(), pkgs.end(), [](const Package& p) { return p.name == "dpkg"; });
  ASSERT_NE(dpkg, pkgs.end());
  EXPECT_TRUE(dpkg->source.empty());
}

TEST(DpkgReader, SourceWithItsOwnVersionAndPackagesNotInstalled) {
  const std::string text =
      "Package: libfoo1\nStatus: install ok installed\nSource: foo (1.2-3)\nVersion: 1.2-3+b1\n\n"
      "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n";
  std::vector<Package> pkgs;
  ASSERT_TRUE(ReadDpkgStatus(text, kStatus, &pkgs).has_value());
  ASSERT_EQ(pkgs.size(), 1u);
  EXPECT_EQ(pkgs[0].SourceName(), "foo");
  EXPECT_EQ(pkgs[0].SourceVersion(), "1.2-3");
  EXPECT_EQ(pkgs[0].version, "1.2-3+b1");
}

TEST(DpkgReader, GarbageIsAnErrorNamingFileAndLine) {
  std::string text = Slurp("/var/lib/dpkg/status");
  // Line 7 becomes garbage.
  size_t pos = 0;
  for (int i = 0; i < 6; ++i) pos = text.find('\n', pos) + 1;
  text.insert(pos, "this line is garbage\n");
  std::vector<Package> pkgs;
  auto r = ReadDpkgStatus(text, kStatus, &pkgs);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("/var/lib/dpkg/status:7:"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(pkgs.empty()) << "a failed read appended packages";
  for (const char* bad :
       {"Package: x\nStatus: install ok installed\nVersion: not-a-version!\n",
        "Package: x\nStatus: install ok installed\n",
        "Version: 1.0\nStatus: install ok installed\n", " continuation first\n"}) {
    EXPECT_FALSE(ReadDpkgStatus(bad, kStatus, &pkgs).has_value()) << bad;
  }
  EXPECT_FALSE(ReadDpkgStatus(std::string("Package: a\0b\n", 13), kStatus, &pkgs).has_value());
}

TEST(ApkReader, ReadsPackagesWithTheirOrigin) {
  const std::string text =
      "C:Q1abc=\nP:busybox\nV:1.36.1-r6\nA:x86_64\nS:500000\nI:900000\nT:Size optimized toolbox\n"
      "U:https://busybox.net/\nL:GPL-2.0-only\no:busybox\nm:Sören Tempel\nt:1696000000\n"
      "F:bin\nR:busybox\n\n"
      "P:ssl_client\nV:1.36.1-r6\nL:GPL-2.0-only\no:busybox\n\n"
      "P:libcrypto3\nV:3.1.4-r1\no:openssl\n";
  std::vector<Package> pkgs;
  ImageFile f{.path = "/lib/apk/db/installed", .layer = 1};
  auto r = ReadApkInstalled(text, f, &pkgs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(pkgs.size(), 3u);
  EXPECT_EQ(pkgs[1].name, "ssl_client");
  EXPECT_EQ(pkgs[1].SourceName(), "busybox");
  EXPECT_EQ(pkgs[2].SourceName(), "openssl");
  EXPECT_EQ(pkgs[0].licenses, std::vector<std::string>{"GPL-2.0-only"});
  EXPECT_EQ(pkgs[0].layer, 1u);
  auto bad = ReadApkInstalled("P:x\nV:1.0\ngarbage line\n", f, &pkgs);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("/lib/apk/db/installed:3"), std::string::npos);
  EXPECT_FALSE(ReadApkInstalled("P:x\n\n", f, &pkgs).has_value());
}

TEST(LangReaders, NpmLockfileWrittenByNpm) {
  std::vector<Package> pkgs;
  ImageFile f{.path = "/app/package-lock.json"};
  auto r = ReadPackageLock(Slurp(BERTH_SCAN_TESTDATA "/package-lock.json"), f, &pkgs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(pkgs.size(), 2u);
  EXPECT_EQ(pkgs[0].name, "lodash");
  EXPECT_EQ(pkgs[0].version, "4.17.20");
  EXPECT_EQ(pkgs[1].name, "minimist");
  auto truncated = ReadPackageLock(R"({"packages": {"node_modules/x": {"version": "1)", f, &pkgs);
  ASSERT_FALSE(truncated.has_value());
  EXPECT_NE(truncated.error().message.find("/app/package-lock.json"), std::string::npos);
}

TEST(LangReaders, PythonMetadataOfAnInstalledPackage) {
  std::string dir;
  for (const auto& e : fs::directory_iterator("/usr/lib/python3/dist-packages")) {
    if (e.path().string().ends_with(".dist-info") && fs::exists(e.path() / "METADATA")) {
      dir = e.path().string();
      break;
    }
  }
  ASSERT_FALSE(dir.empty()) << "no *.dist-info on this machine (python3 is in scripts/deps.sh)";
  std::vector<Package> pkgs;
  ImageFile f{.path = dir + "/METADATA"};
  auto r = ReadPythonMetadata(Slurp(dir + "/METADATA"), f, &pkgs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(pkgs.size(), 1u);
  // The directory is <name>-<version>.dist-info.
  std::string base = fs::path(dir).stem().string();
  std::string want = pkgs[0].name + "-" + pkgs[0].version;
  std::replace(want.begin(), want.end(), '-', '_');
  std::replace(base.begin(), base.end(), '-', '_');
  EXPECT_EQ(base, want);
  EXPECT_FALSE(ReadPythonMetadata("Summary: no name\n", f, &pkgs).has_value());
}

TEST(LangReaders, CargoLock) {
  const std::string text =
      "# This file is automatically @generated by Cargo.\nversion = 3\n\n[[package]]\n"
      "name = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"smallvec\",\n]\n\n"
      "[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = "
      "\"registry+https://github.com/rust-lang/crates.io-index\"\n";
  std::vector<Package> pkgs;
  ASSERT_TRUE(ReadCargoLock(text, ImageFile{.path = "/src/Cargo.lock"}, &pkgs).has_value());
  ASSERT_EQ(pkgs.size(), 2u);
  EXPECT_EQ(pkgs[1].name, "smallvec");
  EXPECT_EQ(pkgs[1].version, "1.6.0");
  EXPECT_FALSE(
      ReadCargoLock("[[package]]\nname = \"x\"\n", ImageFile{.path = "/C"}, &pkgs).has_value());
}

class InventoryTest : public ::testing::Test {
 protected:
  std::string Layer(int n) { return dir_.Sub("l" + std::to_string(n)); }
  void Write(int layer, const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(Layer(layer) + path).parent_path());
    std::ofstream(Layer(layer) + path) << text;
  }
  Result<Inventory> Read(int layers) {
    std::vector<std::string> dirs;
    for (int i = 0; i < layers; ++i) {
      fs::create_directories(Layer(i));
      dirs.push_back(Layer(i));
    }
    auto img = ImageFs::Open(dirs);
    if (!img) return std::unexpected(img.error());
    return ReadInventory(**img, {"sha256:aaa", "sha256:bbb", "sha256:ccc"});
  }
  testing::TempDir dir_{"berth-inventory"};
};

TEST_F(InventoryTest, PackagesFromEveryLayerWithTheirOrigin) {
  Write(0, "/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian 12\"\n");
  Write(0, "/var/lib/dpkg/status", Slurp("/var/lib/dpkg/status"));
  Write(1, "/app/package-lock.json", Slurp(BERTH_SCAN_TESTDATA "/package-lock.json"));
  Write(1, "/usr/lib/python3/dist-packages/demo-1.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0\nLicense: MIT\n\nbody\n");
  Write(2, "/var/lib/dpkg/status.d/base", "Package: distroless-base\nVersion: 1.0-1\n");
  auto inv = Read(3);
  ASSERT_TRUE(inv.has_value()) << inv.error().message;
  EXPECT_EQ(inv->distro.id, "debian");
  EXPECT_EQ(inv->distro.version_id, "12");
  auto find = [&](std::string_view type, std::string_view name) -> const Package* {
    for (const auto& p : inv->packages)
      if (p.type == type && p.name == name) return &p;
    return nullptr;
  };
  ASSERT_NE(find("deb", "libssl3"), nullptr);
  EXPECT_EQ(find("deb", "libssl3")->layer, 0u);
  ASSERT_NE(find("npm", "lodash"), nullptr);
  EXPECT_EQ(find("npm", "lodash")->layer, 1u);
  EXPECT_EQ(find("npm", "lodash")->path, "/app/package-lock.json");
  ASSERT_NE(find("pypi", "Demo_Pkg"), nullptr);
  EXPECT_EQ(find("deb", "distroless-base")->path, "/var/lib/dpkg/status.d/base");
  EXPECT_EQ(Purl(*find("deb", "libssl3"), inv->distro).substr(0, 22), "pkg:deb/debian/libssl3");

  Json cdx = CycloneDx(*inv, "demo:1", "sha256:ddd", 1765000000000);
  EXPECT_EQ(cdx["bomFormat"], "CycloneDX");
  EXPECT_EQ(cdx["specVersion"], "1.5");
  EXPECT_EQ(cdx["components"].size(), inv->packages.size());
  EXPECT_TRUE(std::regex_match(
      cdx["serialNumber"].get<std::string>(),
      std::regex("urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  Json spdx = Spdx(*inv, "demo:1", "sha256:ddd", 1765000000000);
  EXPECT_EQ(spdx["spdxVersion"], "SPDX-2.3");
  EXPECT_EQ(spdx["packages"].size(), inv->packages.size() + 1);
  EXPECT_EQ(spdx["relationships"].size(), inv->packages.size() + 1);
  EXPECT_EQ(spdx["creationInfo"]["created"], "2025-12-06T05:46:40Z");
}

TEST_F(InventoryTest, APackageDatabaseThatIsASymlinkOutOfTheImageIsAnError) {
  Write(0, "/etc/os-release", "ID=debian\nVERSION_ID=12\n");
  fs::create_directories(Layer(0) + "/var/lib/dpkg");
  fs::create_symlink("/var/lib/dpkg/status-host-copy", Layer(0) + "/var/lib/dpkg/status");
  auto inv = Read(1);
  ASSERT_FALSE(inv.has_value());
  EXPECT_NE(inv.error().message.find("/var/lib/dpkg/status is a symlink to "
                                     "/var/lib/dpkg/status-host-copy, which the image does not "
                                     "have"),
            std::string::npos)
      << inv.error().message;
}

TEST_F(InventoryTest, AGarbledDatabaseFailsTheWholeInventory) {
  Write(0, "/lib/apk/db/installed", "P:busybox\nV:1.36.1-r6\nthis is not apk\n");
  Write(0, "/etc/alpine-release", "3.18.4\n");
  auto inv = Read(1);
  ASSERT_FALSE(inv.has_value());
  EXPECT_NE(inv.error().message.find("/lib/apk/db/installed:3"), std::string::npos);
}

}  // namespace
}  // namespace berth::security::scan
