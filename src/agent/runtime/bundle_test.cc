#include "agent/runtime/bundle.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "agent/runtime/seccomp_profile.h"
#include "core/json.h"

namespace berth::agent::runtime {
namespace {

BundleSpec Spec() {
  BundleSpec s;
  s.id = "abc";
  s.hostname = "web";
  s.args = {"/bin/sh", "-c", "echo hi"};
  s.env = {"PATH=/bin"};
  s.rootfs = "/tmp/rootfs";
  s.cgroups_path = "/berth/abc";
  s.netns_path = "/run/netns/berth-abc";
  return s;
}

bool Contains(const Json& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

TEST(BundleTest, DefaultCapabilitiesAreDockersWithoutNetRaw) {
  auto caps = DefaultCapabilities();
  EXPECT_EQ(caps.size(), 13u);
  EXPECT_EQ(std::count(caps.begin(), caps.end(), "CAP_NET_RAW"), 0);
  // Docker's default CapEff is 00000000a80425fb; without NET_RAW (bit 13) it is a80405fb.
  EXPECT_EQ(CapabilityMask(caps), 0xa80405fbull);
}

TEST(BundleTest, HardenedByDefault) {
  Json c = BuildOciConfig(Spec(), 20000);
  EXPECT_EQ(c["process"]["noNewPrivileges"], true);
  EXPECT_FALSE(Contains(c["process"]["capabilities"]["bounding"], "CAP_NET_RAW"));
  EXPECT_FALSE(Contains(c["process"]["capabilities"]["effective"], "CAP_SYS_ADMIN"));
  EXPECT_TRUE(c["process"]["capabilities"]["inheritable"].empty());
  EXPECT_TRUE(Contains(c["linux"]["maskedPaths"], "/proc/kcore"));
  EXPECT_TRUE(Contains(c["linux"]["readonlyPaths"], "/proc/sys"));
  EXPECT_EQ(c["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
  bool sys_ro = false;
  for (const auto& m : c["mounts"])
    if (m["destination"] == "/sys") sys_ro = Contains(m["options"], "ro");
  EXPECT_TRUE(sys_ro);
  EXPECT_EQ(c["root"]["readonly"], false);
  EXPECT_EQ(c["linux"]["cgroupsPath"], "/berth/abc");
  bool netns = false;
  for (const auto& ns : c["linux"]["namespaces"])
    if (ns["type"] == "network") netns = ns.value("path", "") == "/run/netns/berth-abc";
  EXPECT_TRUE(netns);
  EXPECT_EQ(c["process"]["args"].size(), 3u);
}

TEST(BundleTest, RlimitsNeverExceedHostHardLimit) {
  BundleSpec s = Spec();
  s.nofile = 1'000'000;
  Json c = BuildOciConfig(s, 20000);
  EXPECT_EQ(c["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
  EXPECT_EQ(c["process"]["rlimits"][0]["hard"], 20000);
  s.nofile = 0;
  EXPECT_EQ(BuildOciConfig(s, 20000)["process"]["rlimits"][0]["hard"], 1024);
  s.nofile = 4096;
  EXPECT_EQ(BuildOciConfig(s, 1024)["process"]["rlimits"][0]["soft"], 1024);
}

TEST(BundleTest, ResourcesBecomeCgroupLimits) {
  BundleSpec s = Spec();
  s.resources = {64 << 20, 0.5, 128};
  Json r = BuildOciConfig(s, 20000)["linux"]["resources"];
  EXPECT_EQ(r["memory"]["limit"], 64 << 20);
  EXPECT_EQ(r["memory"]["swap"], 64 << 20);  // no swap beyond the limit
  EXPECT_EQ(r["cpu"]["quota"], 50000);
  EXPECT_EQ(r["cpu"]["period"], 100000);
  EXPECT_EQ(r["pids"]["limit"], 128);
}

TEST(BundleTest, ReadOnlyRootAndUserNamespace) {
  BundleSpec s = Spec();
  s.security.read_only_rootfs = true;
  s.security.uid_map = IdMapping{0, 100000, 65536};
  Json c = BuildOciConfig(s, 20000);
  EXPECT_EQ(c["root"]["readonly"], true);
  EXPECT_EQ(c["linux"]["uidMappings"][0]["hostID"], 100000);
  EXPECT_EQ(c["linux"]["gidMappings"][0]["size"], 65536);
  bool user = false;
  for (const auto& ns : c["linux"]["namespaces"]) user |= ns["type"] == "user";
  EXPECT_TRUE(user);
}

TEST(BundleTest, CapAddAndDrop) {
  SecurityProfile p;
  p.cap_add = {"net_admin", "CAP_SYS_PTRACE", "NOT_A_CAP"};
  p.cap_drop = {"CHOWN"};
  auto caps = EffectiveCapabilities(p);
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_NET_ADMIN"), caps.end());
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_SYS_PTRACE"), caps.end());
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_CHOWN"), caps.end());
  EXPECT_EQ(caps.size(), 14u);
  p.cap_drop = {"ALL"};
  p.cap_add = {};
  EXPECT_TRUE(EffectiveCapabilities(p).empty());
}

TEST(BundleTest, PrivilegedLiftsTheProfile) {
  BundleSpec s = Spec();
  s.security.privileged = true;
  Json c = BuildOciConfig(s, 20000);
  EXPECT_EQ(c["process"]["capabilities"]["bounding"].size(), AllCapabilities().size());
  EXPECT_FALSE(c["linux"].contains("seccomp"));
  EXPECT_FALSE(c["linux"].contains("maskedPaths"));
  EXPECT_EQ(c["process"]["noNewPrivileges"], false);
}

TEST(SeccompProfileTest, DeniesWhatDockerDenies) {
  Json p = DefaultSeccompProfile();
  const Json& deny = p["syscalls"][0];
  EXPECT_EQ(deny["action"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(deny["errnoRet"], 1);  // EPERM
  for (const char* s : {"mount",         "umount2",         "unshare",
                        "setns",         "kexec_load",      "kexec_file_load",
                        "init_module",   "finit_module",    "delete_module",
                        "bpf",           "perf_event_open", "keyctl",
                        "add_key",       "request_key",     "reboot",
                        "swapon",        "swapoff",         "settimeofday",
                        "clock_settime", "clock_adjtime",   "adjtimex",
                        "acct",          "pivot_root",      "open_by_handle_at",
                        "userfaultfd"})
    EXPECT_TRUE(Contains(deny["names"], s)) << s;
  EXPECT_FALSE(Contains(deny["names"], "ptrace"));  // Docker allows it on kernels >= 4.8
  EXPECT_EQ(p["syscalls"][1]["names"][0], "clone3");
  EXPECT_EQ(p["syscalls"][1]["errnoRet"], 38);  // ENOSYS: libc falls back to clone
  int clone_rules = 0;
  for (const auto& r : p["syscalls"])
    if (r["names"][0] == "clone") {
      ++clone_rules;
      EXPECT_EQ(r["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
      EXPECT_EQ(r["args"][0]["value"], r["args"][0]["valueTwo"]);
    }
  EXPECT_EQ(clone_rules, 7);
}

}  // namespace
}  // namespace berth::agent::runtime
