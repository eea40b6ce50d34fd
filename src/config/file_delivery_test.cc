#include "config/file_delivery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace berth::config {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FileDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-files-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Read(const std::string& name) {
    std::ifstream in(root_ + "/mount/" + name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static FileSet Set(int64_t revision, std::map<std::string, std::string> files) {
    FileSet s{.revision = revision};
    int64_t v = revision;
    for (auto& [name, content] : files) s.files[name] = {.content = content, .version = v};
    return s;
  }

  std::string root_;
};

TEST_F(FileDeliveryTest, FilesAppearUnderStableNamesAndTheCursorFollows) {
  FileDelivery d(root_ + "/mount");
  auto empty = d.Load();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->revision, 0);
  ASSERT_TRUE(d.Apply(Set(10, {{"app.yaml", "a: 1\n"}, {"flags.json", "{}"}})));
  EXPECT_EQ(Read("app.yaml"), "a: 1\n");
  EXPECT_EQ(Read("flags.json"), "{}");
  ASSERT_TRUE(d.Apply(Set(11, {{"app.yaml", "a: 2\n"}})));
  EXPECT_EQ(Read("app.yaml"), "a: 2\n");
  EXPECT_FALSE(fs::exists(root_ + "/mount/flags.json"));  // no longer delivered
  // One version set on disk, the old one gone.
  int sets = 0;
  for (const auto& e : fs::directory_iterator(root_ + "/mount")) {
    const std::string n = e.path().filename().string();
    if (n.starts_with("..") && n != "..data" && n != "..cursor") ++sets;
  }
  EXPECT_EQ(sets, 1);
  // A new FileDelivery (an agent restarted) reads what is there.
  FileDelivery again(root_ + "/mount");
  auto loaded = again.Load();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->revision, 11);
  ASSERT_EQ(loaded->files.size(), 1u);
  EXPECT_EQ(loaded->files["app.yaml"].content, "a: 2\n");
  EXPECT_EQ(loaded->files["app.yaml"].version, 11);
}

TEST_F(FileDeliveryTest, AReaderNeverSeesHalfAFileOrAMixOfVersions) {
  FileDelivery d(root_ + "/mount");
  // Two files that always change together, large enough that a torn write would show.
  auto make = [](int i) {
    std::string big(256 * 1024, static_cast<char>('a' + i % 26));
    return Set(i + 1, {{"a.txt", big}, {"b.txt", big}});
  };
  ASSERT_TRUE(d.Apply(make(0)));
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      // Through ..data, as a program that opens the directory's files would after a switch.
      std::string a = Read("a.txt");
      std::set<char> chars(a.begin(), a.end());
      if (a.size() != 256 * 1024 || chars.size() != 1) ++torn;
      ++reads;
    }
  });
  for (int i = 1; i < 60; ++i) ASSERT_TRUE(d.Apply(make(i)));
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_GT(reads.load(), 0);
}

TEST_F(FileDeliveryTest, ModeAndBadNamesAndAFailedApplyKeepsThePreviousSet) {
  FileDelivery d(root_ + "/mount", {.mode = 0400});
  ASSERT_TRUE(d.Apply(Set(1, {{"token", "s3cr3t"}})));
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/mount/token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0400u);
  auto bad = d.Apply(Set(2, {{"../escape", "x"}}));
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("../escape"));
  auto loaded = d.Load();
  EXPECT_EQ(loaded->revision, 1);
  EXPECT_EQ(Read("token"), "s3cr3t");
}

}  // namespace
}  // namespace berth::config
