#include "agent/node/cgroup_cpu.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace berth::agent::node {
namespace {

namespace fs = std::filesystem;

// This host's layout: hybrid, every v1 controller on its own mount, runc's /berth/<id>.
constexpr const char* kHybridMounts =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr const char* kHybridProc =
    "4:memory:/berth/c1\n2:cpuacct:/berth/c1\n1:cpu:/berth/c1\n0::/berth/c1\n";

// A fake root: /proc/<pid>/cgroup, /proc/self/mountinfo and the cgroup files.
class FakeRoot {
 public:
  FakeRoot() {
    dir_ =
        fs::temp_directory_path() / ("berth-cgroup-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  ~FakeRoot() { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string root() const { return dir_.string(); }

 private:
  fs::path dir_;
};

TEST(CgroupCpu, HybridHostReadsTheV1CpuacctHierarchyTheRuntimeUsed) {
  FakeRoot r;
  r.Write("proc/4242/cgroup", kHybridProc);
  r.Write("proc/self/mountinfo", kHybridMounts);
  r.Write("sys/fs/cgroup/cpuacct/berth/c1/cpuacct.usage", "1500000000\n");
  // A v2 cpu.stat exists too (hybrid): v1 wins, as runc accounts there.
  r.Write("sys/fs/cgroup/unified/berth/c1/cpu.stat", "usage_usec 7\n");
  auto a = LocateCpuAccountingOf(4242, r.root());
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->kind, CpuAccounting::Kind::kCpuacctV1);
  EXPECT_EQ(a->file, r.root() + "/sys/fs/cgroup/cpuacct/berth/c1/cpuacct.usage");
  auto ns = ReadCpuUsageNanos(*a);
  ASSERT_TRUE(ns) << ns.error().message;
  EXPECT_EQ(*ns, 1'500'000'000);
}

TEST(CgroupCpu, CombinedCpuCpuacctMountAndANonRootMount) {
  auto a = LocateCpuAccounting(
      "5:cpu,cpuacct:/outer/berth/c2\n",
      "25 20 0:22 /outer /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n", "/r");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->file, "/r/sys/fs/cgroup/cpu,cpuacct/berth/c2/cpuacct.usage");
}

TEST(CgroupCpu, UnifiedHostReadsCpuStat) {
  FakeRoot r;
  r.Write("proc/7/cgroup", "0::/berth/c3\n");
  r.Write("proc/self/mountinfo",
          "28 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
  r.Write("sys/fs/cgroup/berth/c3/cpu.stat",
          "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\n");
  auto a = LocateCpuAccountingOf(7, r.root());
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->kind, CpuAccounting::Kind::kCpuStatV2);
  auto ns = ReadCpuUsageNanos(*a);
  ASSERT_TRUE(ns) << ns.error().message;
  EXPECT_EQ(*ns, 2'500'000);
}

TEST(CgroupCpu, ErrorsNameWhatIsMissingOrMalformed) {
  // No hierarchy mounted for the process's lines.
  auto none = LocateCpuAccounting("3:memory:/berth/x\n", kHybridMounts);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  // The process is gone.
  FakeRoot r;
  r.Write("proc/self/mountinfo", kHybridMounts);
  EXPECT_FALSE(LocateCpuAccountingOf(99, r.root()));
  // The cgroup is gone (container exited between locate and read).
  auto a = LocateCpuAccounting(kHybridProc, kHybridMounts, r.root());
  ASSERT_TRUE(a);
  EXPECT_FALSE(ReadCpuUsageNanos(*a));
  EXPECT_FALSE(ParseCpuacctUsage("12x\n"));
  EXPECT_FALSE(ParseCpuacctUsage(""));
  EXPECT_FALSE(ParseCpuStatUsage("user_usec 5\n"));
  EXPECT_EQ(*ParseCpuacctUsage("42\n"), 42);
}

TEST(CpuWindow, AveragesOverTheWindowInMillicores) {
  CpuWindow w(std::chrono::seconds(10));
  EXPECT_FALSE(w.Millicores());
  w.Add(0, 0);
  EXPECT_FALSE(w.Millicores());
  w.Add(5'000, 2'500'000'000);  // 2.5 s of CPU in 5 s: half a core
  EXPECT_EQ(w.Millicores(), 500);
  w.Add(10'000, 2'500'000'000);  // idle for 5 s: 250m over the 10 s window
  EXPECT_EQ(w.Millicores(), 250);
  w.Add(15'000, 2'500'000'000);  // the busy 5 s left the window
  EXPECT_EQ(w.Millicores(), 0);
  w.Add(20'000, 22'500'000'000);  // 4 cores for 5 s
  EXPECT_EQ(w.Millicores(), 2000);
}

TEST(CpuWindow, ACounterThatGoesBackStartsAfresh) {
  CpuWindow w(std::chrono::seconds(30));
  w.Add(0, 0);
  w.Add(5'000, 5'000'000'000);
  EXPECT_EQ(w.Millicores(), 1000);
  w.Add(10'000, 100'000'000);  // a restarted container: a new cgroup's counter
  EXPECT_FALSE(w.Millicores());
  w.Add(15'000, 600'000'000);
  EXPECT_EQ(w.Millicores(), 100);
}

}  // namespace
}  // namespace berth::agent::node
