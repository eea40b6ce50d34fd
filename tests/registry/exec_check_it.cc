// Exec health checks end to end, as root: `berthd dev` with its node agent runs a real runc
// container, and an instance that names it ("berth.container") has an exec check that runs
// inside it. The check passes and fails as a file appears and disappears in the container;
// a check that hangs is killed at its timeout (it never piles up and turns "busy"); berthd
// stops promptly with a hung check running and leaves no check process behind; exec checks
// are refused without a container, without the admin role, and on a control plane that has
// no agent.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "agent/image/image_store.h"
#include "core/http/client.h"
#include "core/json.h"
#include "harness/harness.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Host processes whose command line is exactly `argv` (NUL-separated in /proc/<pid>/cmdline).
int CountProcesses(const std::vector<std::string>& argv) {
  std::string want;
  for (const auto& a : argv) want += a + '\0';
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    int fd = ::open((e.path() / "cmdline").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone meanwhile
    char buf[256];
    ssize_t got = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (got > 0 && std::string(buf, static_cast<size_t>(got)) == want) ++n;
  }
  return n;
}

class ExecCheckIT : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "needs root (runc containers)";
    data_ = dir_.MakeSubdir("data");
    // The test image, built into the agent's image store before berthd starts.
    auto store = agent::image::ImageStore::Open(data_ + "/images");
    ASSERT_TRUE(store) << store.error().message;
    std::string ctx = dir_.MakeSubdir("ctx");
    fs::create_directories(ctx + "/bin");
    fs::create_directories(ctx + "/tmp");
    fs::copy_file("/bin/busybox", ctx + "/bin/busybox");
    for (const char* a : {"sh", "sleep", "touch", "rm", "test", "true"})
      fs::create_symlink("busybox", ctx + "/bin/" + a);
    auto b = (*store)->Build(ctx, {.name = "busy:v1", .cmd = {"/bin/sh"}});
    ASSERT_TRUE(b) << b.error().message;
    store->reset();

    port_ = FreePort();
    const std::string octet = std::to_string(::getpid() % 200 + 20);
    bridge_ = "bexc" + std::to_string(::getpid() % 100000);
    berthd_ = Process::Start(
        "berthd", {BerthdPath(), "dev", "--data-dir", data_, "--api",
                   "127.0.0.1:" + std::to_string(port_), "--dns", "none", "--gateway", "none",
                   "--subnet", "100.98." + octet + ".0/24", "--bridge", bridge_});
    ASSERT_TRUE(berthd_);
    ASSERT_TRUE(WaitFor([&] { return HttpGet(port_, "/v1/health").has_value(); }));
    std::ifstream(data_ + "/admin.token") >> admin_;
    ASSERT_FALSE(admin_.empty());
  }

  void TearDown() override {
    if (berthd_ && !berthd_->Running()) Restart();
    if (berthd_) {
      (void)Api("DELETE", "/v1/containers/box?force=1", "");
      auto ps = Api("GET", "/v1/containers?all=1", "");
      if (ps && ps->status == 200)
        if (auto j = ParseJson(ps->body); j && j->contains("containers"))
          for (const auto& c : (*j)["containers"])
            (void)Api("DELETE", "/v1/containers/" + c.value("id", "") + "?force=1", "");
      berthd_->Stop();
    }
    std::system(("ip link delete " + bridge_ + " 2>/dev/null").c_str());
  }

  void Restart() {
    berthd_ = Process::Start("berthd-again", berthd_->argv());
    ASSERT_TRUE(berthd_);
    ASSERT_TRUE(WaitFor([&] { return HttpGet(port_, "/v1/health").has_value(); }));
  }

  Result<http::Response> Api(std::string_view method, const std::string& path, std::string body,
                             std::string token = "") {
    http::Headers h;
    h.Set("Authorization", "Bearer " + (token.empty() ? admin_ : token));
    if (!body.empty()) h.Set("Content-Type", "application/json");
    return http::Fetch(method, "http://127.0.0.1:" + std::to_string(port_) + path, std::move(body),
                       std::move(h));
  }

  void ExecInBox(std::vector<std::string> cmd) {
    auto r = Api("POST", "/v1/containers/box/exec", Json{{"cmd", cmd}}.dump());
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : r.error().message);
    EXPECT_EQ(ParseJson(r->body)->value("exit_code", -1), 0) << r->body;
  }

  Json Instance(const std::string& id) {
    auto r = Api("GET", "/v1/registry/default/box/" + id, "");
    if (!r || r->status != 200) return Json();
    auto j = ParseJson(r->body);
    return j ? *j : Json();
  }
  std::string Health(const std::string& id) { return Instance(id).value("health", ""); }
  int64_t Metric(const std::string& name) {
    auto r = Api("GET", "/metrics", "");
    if (!r || r->status != 200) return -1;
    for (size_t at = 0; (at = r->body.find(name + " ", at)) != std::string::npos; ++at)
      if (at == 0 || r->body[at - 1] == '\n') return std::stoll(r->body.substr(at + name.size()));
    return -1;
  }

  // rise and fall 1: each result shows at once (the thresholds have their own tests).
  static std::string Registration(std::vector<std::string> exec, std::string container = "box",
                                  std::string interval = "2s") {
    Json j{{"address", "127.0.0.1"},
           {"port", 80},
           {"check",
            {{"exec", exec},
             {"interval", interval},
             {"timeout", interval},
             {"rise", 1},
             {"fall", 1}}}};
    if (!container.empty()) j["metadata"] = {{"berth.container", container}};
    return j.dump();
  }

  TempDir dir_{"berth-exec-check"};
  std::string data_, bridge_, admin_;
  int port_ = 0;
  std::unique_ptr<Process> berthd_;
};

TEST_F(ExecCheckIT, ACheckInsideTheContainerFollowsAFileThereAndAHungOneIsBounded) {
  auto run = Api(
      "POST", "/v1/containers",
      Json{{"name", "box"}, {"image", "busy:v1"}, {"cmd", {"sleep", "86400"}}, {"network", "none"}}
          .dump());
  ASSERT_TRUE(run && run->status / 100 == 2) << (run ? run->body : run.error().message);

  // [test, -f, /tmp/ok] inside the container: exit 1 (warning) until the file is there.
  auto put = Api("PUT", "/v1/registry/default/box/b1", Registration({"test", "-f", "/tmp/ok"}));
  ASSERT_TRUE(put && put->status == 200) << (put ? put->body : put.error().message);
  ASSERT_TRUE(WaitFor([&] { return Health("b1") == "warning"; })) << Instance("b1").dump();
  EXPECT_NE(Instance("b1").value("health_output", "").find("exit 1"), std::string::npos);
  ExecInBox({"touch", "/tmp/ok"});
  ASSERT_TRUE(WaitFor([&] { return Health("b1") == "passing"; })) << Instance("b1").dump();
  ExecInBox({"rm", "/tmp/ok"});
  ASSERT_TRUE(WaitFor([&] { return Health("b1") == "warning"; })) << Instance("b1").dump();

  // A check that never ends is killed at its timeout, every round: the killed commands do
  // not pile up (without the kill, each round would keep one more running, up to the
  // runner's 4 threads, and then every exec check would answer "busy").
  const std::vector<std::string> hung = {"sleep", "3599"};
  put = Api("PUT", "/v1/registry/default/box/h1", Registration(hung, "box", "1s"));
  ASSERT_TRUE(put && put->status == 200) << (put ? put->body : put.error().message);
  ASSERT_TRUE(WaitFor([&] {
    return Instance("h1").value("health_output", "") == "timeout (first result)";
  })) << Instance("h1").dump();
  EXPECT_EQ(Health("h1"), "critical");
  const int64_t probes = Metric("berth_registry_probes_total");
  int most = 0;
  ASSERT_TRUE(WaitFor([&] {  // about 6 rounds of each check
    most = std::max(most, CountProcesses(hung));
    return Metric("berth_registry_probes_total") >= probes + 12;
  }));
  EXPECT_LE(most, 2) << "hung exec checks pile up";
  ExecInBox({"touch", "/tmp/ok"});  // the other check still runs
  ASSERT_TRUE(WaitFor([&] { return Health("b1") == "passing"; })) << Instance("b1").dump();

  // berthd stops with a hung check running: it kills it instead of waiting for it.
  ASSERT_TRUE(WaitFor([&] { return CountProcesses(hung) >= 1; }));
  ::kill(berthd_->Pid(), SIGTERM);  // berthd alone, as an init system would
  auto status = berthd_->Wait(60s);
  ASSERT_TRUE(status.has_value()) << "berthd did not stop with a hung exec check running";
  EXPECT_TRUE(WIFEXITED(*status)) << *status;
  EXPECT_EQ(CountProcesses(hung), 0) << "a hung check outlived berthd";
}

TEST_F(ExecCheckIT, ExecChecksAreRefusedWithoutAContainerOrTheAdminRole) {
  auto no_container = Api("PUT", "/v1/registry/default/box/x", Registration({"true"}, ""));
  ASSERT_TRUE(no_container);
  EXPECT_EQ(no_container->status, 400) << no_container->body;
  EXPECT_NE(no_container->body.find("berth.container"), std::string::npos) << no_container->body;

  auto tok = Api("POST", "/v1/tokens", Json{{"name", "ops"}, {"role", "operator"}}.dump());
  ASSERT_TRUE(tok && tok->status / 100 == 2) << (tok ? tok->body : tok.error().message);
  const std::string operator_token = ParseJson(tok->body)->value("token", "");
  ASSERT_FALSE(operator_token.empty()) << tok->body;
  auto as_operator =
      Api("PUT", "/v1/registry/default/box/x", Registration({"true"}), operator_token);
  ASSERT_TRUE(as_operator);
  EXPECT_EQ(as_operator->status, 403) << as_operator->body;
  EXPECT_NE(as_operator->body.find("admin role"), std::string::npos) << as_operator->body;
  // An operator may still register http/tcp checks.
  auto tcp =
      Api("PUT", "/v1/registry/default/box/y",
          Json{{"address", "127.0.0.1"}, {"port", 80}, {"check", {{"tcp", "127.0.0.1:9"}}}}.dump(),
          operator_token);
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->status, 200) << tcp->body;
  // Nothing of the refused ones was stored.
  auto x = Api("GET", "/v1/registry/default/box/x", "");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->status, 404) << x->body;
}

TEST(ExecCheckServerIT, AControlPlaneWithoutAnAgentRefusesExecChecks) {
  TempDir dir("berth-exec-server");
  const int port = FreePort();
  auto server = Process::Start(
      "berthd-server", {BerthdPath(), "server", "--data-dir", dir.MakeSubdir("data"), "--api",
                        "127.0.0.1:" + std::to_string(port), "--dns", "none"});
  ASSERT_TRUE(server);
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/v1/health").has_value(); }));
  std::string token;
  std::ifstream(dir.Sub("data/admin.token")) >> token;
  ASSERT_FALSE(token.empty());
  http::Headers h;
  h.Set("Authorization", "Bearer " + token);
  h.Set("Content-Type", "application/json");
  auto r =
      http::Fetch("PUT", "http://127.0.0.1:" + std::to_string(port) + "/v1/registry/default/box/x",
                  Json{{"address", "127.0.0.1"},
                       {"port", 80},
                       {"metadata", {{"berth.container", "box"}}},
                       {"check", {{"exec", {"touch", "/tmp/pwned-by-exec-check"}}}}}
                      .dump(),
                  std::move(h));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("no node agent"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace berth::testing
