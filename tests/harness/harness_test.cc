#include "harness/harness.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace berth::testing {
namespace {

TEST(FreePortTest, HandsOutDistinctBindablePorts) {
  std::set<int> ports;
  for (int i = 0; i < 20; ++i) {
    int port = FreePort();
    EXPECT_GT(port, 0);
    EXPECT_LT(port, 65536);
    ports.insert(port);
  }
  EXPECT_EQ(ports.size(), 20u);
}

TEST(TempDirTest, RemovesEverythingOnDestruction) {
  std::string path;
  {
    TempDir dir("harness-test");
    path = dir.path();
    ASSERT_TRUE(std::filesystem::is_directory(path));
    std::string sub = dir.MakeSubdir("a/b");
    std::ofstream(sub + "/f.txt") << "hello";
    ASSERT_TRUE(std::filesystem::exists(dir.Sub("a/b/f.txt")));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ProcessTest, CapturesOutputAndExitStatusWithEnvironment) {
  TempDir dir;
  ProcessOptions opts;
  opts.env = {{"HARNESS_GREETING", "hello from env"}};
  opts.log_path = dir.Sub("echo.log");
  auto p = Process::Start("echo", {"sh", "-c", "echo \"$HARNESS_GREETING\"; echo err >&2; exit 3"},
                          opts);
  ASSERT_NE(p, nullptr);
  EXPECT_GT(p->Pid(), 0);
  auto status = p->Wait();
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  std::string logs = p->Logs();
  EXPECT_NE(logs.find("hello from env"), std::string::npos) << logs;
  EXPECT_NE(logs.find("err"), std::string::npos) << logs;
  std::ostringstream dump;
  p->DumpLogs(dump);
  EXPECT_NE(dump.str().find("=== echo (pid"), std::string::npos);
  EXPECT_NE(dump.str().find("hello from env"), std::string::npos);
}

TEST(ProcessTest, KillEndsALongRunningProcess) {
  auto p = Process::Start("sleeper", {"sleep", "1000"});
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->Running());
  EXPECT_FALSE(p->Wait(50ms).has_value());  // still running: Wait gives up at its deadline
  ASSERT_TRUE(p->Kill(SIGTERM));
  auto status = p->Wait();
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGTERM);
  EXPECT_FALSE(p->Running());
  EXPECT_FALSE(p->Kill(SIGTERM));
}

TEST(ProcessTest, DestructorKillsTheWholeProcessGroup) {
  TempDir dir;
  std::string pid_file = dir.Sub("grandchild.pid");
  pid_t grandchild = 0;
  {
    auto p =
        Process::Start("parent", {"sh", "-c", "sleep 1000 & echo $! > " + pid_file + "; wait"});
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(WaitFor([&] {
      std::ifstream in(pid_file);
      return static_cast<bool>(in >> grandchild) && grandchild > 0;
    }));
    EXPECT_EQ(::kill(grandchild, 0), 0);
  }
  // The grandchild was in the group; it is gone (or a zombie of init, reaped soon).
  EXPECT_TRUE(WaitFor([&] {
    if (::kill(grandchild, 0) != 0) return true;
    std::ifstream stat("/proc/" + std::to_string(grandchild) + "/stat");
    std::string pid, comm, state;
    stat >> pid >> comm >> state;
    return state == "Z";
  }));
}

TEST(ProcessTest, StartFailsForAMissingProgram) {
  std::string error;
  auto p = Process::Start("missing", {"no-such-program-berth"}, {}, &error);
  EXPECT_EQ(p, nullptr);
  EXPECT_NE(error.find("not found"), std::string::npos) << error;
}

TEST(WaitForTest, ReturnsTrueOnceTheConditionHoldsAndFalseAtTheDeadline) {
  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls >= 3; }, 10s, 1ms));
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(WaitFor([] { return false; }, 30ms, 5ms));
}

TEST(WaitForTcpTest, SeesAListenerAndNotAClosedPort) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  EXPECT_TRUE(WaitForTcp(ntohs(addr.sin_port)));
  ::close(fd);
  EXPECT_FALSE(WaitForTcp(FreePort(), 200ms));
}

TEST(BinaryPathTest, UsesBerthBinaryDir) {
  ::setenv("BERTH_BINARY_DIR", "/some/build", 1);
  EXPECT_EQ(BinaryPath("src/cmd/berthd"), "/some/build/src/cmd/berthd");
  EXPECT_EQ(BerthdPath(), "/some/build/src/cmd/berthd");
  EXPECT_TRUE(FindProgram("sh").has_value());
  EXPECT_FALSE(FindProgram("no-such-program-berth").has_value());
}

TEST(EtcdClusterTest, SingleMemberServesAndSurvivesARestart) {
  EtcdCluster etcd;
  ASSERT_TRUE(etcd.Start(1)) << etcd.error();
  ASSERT_EQ(etcd.ClientEndpoints().size(), 1u);
  EXPECT_EQ(etcd.ClientEndpoint(0), "http://127.0.0.1:" + std::to_string(etcd.ClientPort(0)));
  EXPECT_TRUE(etcd.Healthy(0));
  auto version = HttpGet(etcd.ClientPort(0), "/version");
  ASSERT_TRUE(version.has_value());
  EXPECT_NE(version->find("etcdserver"), std::string::npos) << *version;

  etcd.KillMember(0);
  EXPECT_FALSE(etcd.MemberRunning(0));
  EXPECT_FALSE(etcd.Healthy(0));
  ASSERT_TRUE(etcd.RestartMember(0)) << [&] {
    std::ostringstream os;
    etcd.DumpLogs(os);
    return os.str();
  }();
  EXPECT_TRUE(etcd.Healthy(0));
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

TEST(EtcdClusterTest, ThreeMembersElectANewLeaderWhenTheLeaderIsKilled) {
  EtcdCluster etcd;
  ASSERT_TRUE(etcd.Start(3)) << etcd.error();
  ASSERT_EQ(etcd.ClientEndpoints().size(), 3u);
  int leader = -1;
  ASSERT_TRUE(WaitFor([&] { return (leader = etcd.Leader()) >= 0; }));
  auto put = HttpPost(etcd.ClientPort((leader + 1) % 3), "/v3/kv/put",
                      R"({"key":"aGFybmVzcw==","value":"MQ=="})");
  ASSERT_TRUE(put.has_value());
  etcd.KillMember(leader);
  int next = -1;
  ASSERT_TRUE(WaitFor([&] {
    next = etcd.Leader();
    return next >= 0 && next != leader;
  }));
  ASSERT_TRUE(etcd.WaitHealthy());
  ASSERT_TRUE(etcd.RestartMember(leader));
  // The restarted member has the write made before it died.
  auto got = HttpPost(etcd.ClientPort(leader), "/v3/kv/range", R"({"key":"aGFybmVzcw=="})");
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->find("\"value\":\"MQ==\""), std::string::npos) << *got;
}

}  // namespace
}  // namespace berth::testing
