#include "agent/runtime/runtime.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <algorithm>
#include <filesystem>

#include "agent/runtime/cgroup_layout.h"
#include "agent/runtime/oci_cli_runtime.h"

namespace berth::agent::runtime {
namespace {

TEST(RuntimeTest, ChosenByName) {
  auto runc = MakeRuntime("runc", "/tmp/berth-runtime-test");
  ASSERT_TRUE(runc) << runc.error().message;
  EXPECT_EQ((*runc)->Name(), "runc");
  EXPECT_TRUE((*runc)->Binary().ends_with("/runc"));
  EXPECT_EQ((*runc)->StateRoot(), "/tmp/berth-runtime-test");
  auto crun2 = MakeCrun("/usr/bin/crun", "/x");
  EXPECT_EQ(crun2->Name(), "crun");
  auto bogus = MakeRuntime("no-such-runtime", "/x");
  ASSERT_FALSE(bogus);
  EXPECT_EQ(bogus.error().code, ErrorCode::kNotFound);
}

TEST(RuntimeTest, StatusOfUnknownContainerIsNotFound) {
  const std::string root = "/tmp/berth-runtime-test-" + std::to_string(::getpid());
  auto runc = MakeRuntime("runc", root);
  ASSERT_TRUE(runc);
  auto s = (*runc)->Status("does-not-exist");
  std::filesystem::remove_all(root);  // runc made its state root on the way
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
}

TEST(RuntimeTest, RuncIsTheDefaultAndCrunIsHonoured) {
  auto crun = MakeRuntime("crun", "/tmp/berth-runtime-test");
  if (!crun) {
    // Only a cgroup layout crun cannot use may refuse it, and the error says so.
    EXPECT_EQ(crun.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_NE(crun.error().message.find("crun"), std::string::npos);
    EXPECT_NE(crun.error().message.find("cgroup layout"), std::string::npos);
    return;
  }
  EXPECT_EQ((*crun)->Name(), "crun");
  EXPECT_TRUE((*crun)->Binary().ends_with("/crun"));
  auto runc = MakeRuntime("runc", "/tmp/berth-runtime-test");
  ASSERT_TRUE(runc);
  EXPECT_EQ((*runc)->ShimArgs(), std::vector<std::string>{"-f"});
}

CgroupLayout Hybrid(std::vector<std::string> v1, std::vector<std::string> v2) {
  CgroupLayout l;
  l.mode = CgroupLayout::Mode::kHybrid;
  l.v1_controllers = std::move(v1);
  l.v2_controllers = std::move(v2);
  return l;
}

TEST(CgroupLayoutTest, CrunPlanPerLayout) {
  CgroupLayout unified;
  unified.v2_controllers = {"cpu", "memory", "pids"};
  EXPECT_EQ(PlanCrun(unified).value(), CrunMode::kNative);
  CgroupLayout legacy;
  legacy.mode = CgroupLayout::Mode::kLegacy;
  legacy.v1_controllers = {"cpu", "memory", "pids"};
  EXPECT_EQ(PlanCrun(legacy).value(), CrunMode::kNative);
  // Hybrid with an empty v2 hierarchy: crun treats it as legacy by itself.
  EXPECT_EQ(PlanCrun(Hybrid({"cpu", "memory", "pids"}, {})).value(), CrunMode::kNative);
  // Hybrid with hugetlb on v2 (this project's hosts): crun runs without the v2 hierarchy.
  EXPECT_EQ(PlanCrun(Hybrid({"cpu", "cpuacct", "memory", "pids"}, {"hugetlb"})).value(),
            CrunMode::kHideCgroup2);
  EXPECT_EQ(MakeCrun("/usr/bin/crun", "/x", true)->ShimArgs(), std::vector<std::string>{"-m"});
  EXPECT_TRUE(MakeCrun("/usr/bin/crun", "/x", false)->ShimArgs().empty());
}

TEST(CgroupLayoutTest, CrunRefusedWhereALimitControllerIsOnlyOnV2) {
  auto plan = PlanCrun(Hybrid({"cpu", "pids"}, {"memory", "hugetlb"}));
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, ErrorCode::kFailedPrecondition);
  const std::string& m = plan.error().message;
  EXPECT_NE(m.find("crun"), std::string::npos) << m;
  EXPECT_NE(m.find("hybrid (cgroup v1: cpu,pids; cgroup v2 on /sys/fs/cgroup/unified: "
                   "memory,hugetlb)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("lack memory"), std::string::npos) << m;
  EXPECT_NE(m.find("--runtime runc"), std::string::npos) << m;
}

TEST(CgroupLayoutTest, ThisHostIsRead) {
  auto l = ReadCgroupLayout();
  ASSERT_TRUE(l) << l.error().message;
  std::string d = DescribeCgroupLayout(*l);
  EXPECT_FALSE(d.empty());
  if (l->mode != CgroupLayout::Mode::kUnified) {
    EXPECT_NE(std::find(l->v1_controllers.begin(), l->v1_controllers.end(), "memory"),
              l->v1_controllers.end())
        << d;
  }
}

}  // namespace
}  // namespace berth::agent::runtime
