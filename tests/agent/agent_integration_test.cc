// Real containers under runc, as root: the hardened profile seen from inside, resource
// limits, published ports through CNI, restart back-off, stop semantics, logs, and
// adoption of running containers by a new agent. Each test owns an AgentEnv that removes
// everything it made (containers, mounts, namespaces, the bridge) even on failure.
#include <arpa/inet.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <thread>

#include "agent/internal/sys.h"
#include "agent/node/run_spec.h"
#include "agent/runtime/cgroup_layout.h"
#include "orchestrator/spec.h"
#include "tests/agent/test_env.h"

namespace berth::agent::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

bool AgentEnvWaitFor(const std::function<bool()>& cond, int seconds = 60) {
  for (int i = 0; i < seconds * 50; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool ProcessAlive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

int FreePort() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

std::string ReadFromPort(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    char buf[256];
    ssize_t n;
    while ((n = ::read(s, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(s);
  return out;
}

TEST(AgentIntegrationTest, EntrypointIsPidOneUnderTheHardenedProfile) {
  AgentEnv env;
  auto c = env.agent().Run(env.Spec({"/probe", "status"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitExited(c->name));
  std::string out = env.LogText(c->name);
  EXPECT_NE(out.find("pid 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Seccomp:\t2"), std::string::npos) << out;
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
  EXPECT_NE(out.find("CapEff:\t00000000a80405fb"), std::string::npos) << out;
  EXPECT_NE(out.find("CapBnd:\t00000000a80405fb"), std::string::npos) << out;
  auto info = env.agent().Inspect(c->name);
  EXPECT_EQ(info->exit_code, 0);
  EXPECT_FALSE(info->oom_killed);
}

TEST(AgentIntegrationTest, ForbiddenOperationsFailInside) {
  AgentEnv env;
  auto c = env.agent().Run(env.Spec({"/probe", "syscalls"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitExited(c->name));
  std::string out = env.LogText(c->name);
  for (const char* line :
       {"mount EPERM", "unshare_net EPERM", "init_module EPERM", "finit_module EPERM",
        "kexec_load EPERM", "bpf EPERM", "keyctl EPERM", "reboot EPERM", "swapon EPERM",
        "settimeofday EPERM", "raw_socket EPERM", "getpid ok"})
    EXPECT_NE(out.find(std::string(line) + "\n"), std::string::npos) << line << " in:\n" << out;

  // The same through the ordinary tools.
  auto tools = env.agent().Run(env.Spec({"/bin/sh", "-c",
                                         "mount -t tmpfs none /mnt 2>/dev/null; echo mount=$?; "
                                         "unshare -n true 2>/dev/null; echo unshare=$?; "
                                         "insmod /probe 2>/dev/null; echo insmod=$?"}));
  ASSERT_TRUE(tools) << tools.error().message;
  ASSERT_TRUE(env.WaitExited(tools->name));
  out = env.LogText(tools->name);
  EXPECT_EQ(out.find("mount=0"), std::string::npos) << out;
  EXPECT_NE(out.find("mount="), std::string::npos) << out;
  EXPECT_EQ(out.find("unshare=0"), std::string::npos) << out;
  EXPECT_EQ(out.find("insmod=0"), std::string::npos) << out;
}

TEST(AgentIntegrationTest, MemoryHogIsOomKilledAndReported) {
  AgentEnv env;
  RunSpec spec = env.Spec({"/probe", "hog"});
  spec.resources.memory_bytes = 32 << 20;
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitExited(c->name));
  auto info = env.agent().Inspect(c->name);
  EXPECT_TRUE(info->oom_killed);
  EXPECT_EQ(info->exit_code, 137);
  EXPECT_EQ(info->exit_signal, SIGKILL);
}

TEST(AgentIntegrationTest, ForkBombStopsAtPidsLimit) {
  AgentEnv env;
  RunSpec spec = env.Spec({"/probe", "forkbomb"});
  spec.resources.pids = 32;
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitForLog(c->name, "forked "));
  std::string out = env.LogText(c->name);
  int forked = std::atoi(out.substr(out.find("forked ") + 7).c_str());
  EXPECT_LT(forked, 32) << out;
  EXPECT_GT(forked, 0) << out;
  EXPECT_NE(out.find("EAGAIN"), std::string::npos) << out;
  ASSERT_TRUE(env.WaitExited(c->name));
  // The node is fine: a new container still starts and runs.
  auto after = env.agent().Run(env.Spec({"/bin/echo", "still healthy"}));
  ASSERT_TRUE(after) << after.error().message;
  ASSERT_TRUE(env.WaitForLog(after->name, "still healthy"));
}

TEST(AgentIntegrationTest, PublishedPortAnswersOnLoopback) {
  AgentEnv env;
  int port = FreePort();
  RunSpec spec = env.Spec({"/probe", "serve", "8080"});
  spec.network = runtime::NetworkMode::kBridge;
  spec.ports.push_back({static_cast<uint16_t>(port), 8080, "tcp", "127.0.0.1"});
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->ip.starts_with("100.64.")) << c->ip;
  ASSERT_TRUE(env.WaitForLog(c->name, "listening on 8080"));
  std::string reply;
  for (int i = 0; i < 250 && reply.empty(); ++i) {
    reply = ReadFromPort(port);
    if (reply.empty()) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(reply, "hello from berth\n");
  // The namespace the agent made natively has lo up, as the loopback plugin would leave it.
  auto lo = env.agent().Exec(c->name, {"/bin/ip", "link", "show", "lo"});
  ASSERT_TRUE(lo) << lo.error().message;
  EXPECT_NE(lo->out.find(",UP"), std::string::npos) << lo->out;
  std::string netns = "/run/netns/berth-" + c->id;
  EXPECT_TRUE(fs::exists(netns));
  auto stopped = env.agent().Stop(c->name, milliseconds(2000));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_FALSE(fs::exists(netns));  // DEL ran and the namespace is gone
  auto rules = internal::Run({"iptables-save", "-t", "nat"});
  ASSERT_TRUE(rules);
  EXPECT_EQ(rules->out.find(c->id), std::string::npos) << "portmap rules left behind";
  EXPECT_EQ(ReadFromPort(port), "");
}

// The runtime creates a bridge container while the CNI plugins configure its namespace; its
// process starts only once both are done: the first thing it runs sees its address, its
// route and its own /etc/hosts line.
TEST(AgentIntegrationTest, BridgeNetworkIsReadyWhenTheProcessStarts) {
  AgentEnv env;
  RunSpec spec =
      env.Spec({"/bin/sh", "-c", "cat /etc/hosts; ip -4 addr show eth0; ip route show default"});
  spec.network = runtime::NetworkMode::kBridge;
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->ip.starts_with("100.64.")) << c->ip;
  ASSERT_TRUE(env.WaitExited(c->name));
  std::string out = env.LogText(c->name);
  EXPECT_NE(out.find(c->ip + "\t" + c->name), std::string::npos) << out;
  EXPECT_NE(out.find("inet " + c->ip + "/24"), std::string::npos) << out;
  EXPECT_NE(out.find("default via "), std::string::npos) << out;
  EXPECT_EQ(env.agent().Inspect(c->name)->exit_code, 0);
  EXPECT_FALSE(fs::exists("/run/netns/berth-" + c->id));

  // Started through runc's exec fifo (the shim's -f): runc itself sees it running.
  RunSpec sleeper = env.Spec({"/bin/sleep", "60"});
  sleeper.network = runtime::NetworkMode::kBridge;
  auto s = env.agent().Run(sleeper);
  ASSERT_TRUE(s) << s.error().message;
  auto status = env.runtime().Status(s->id);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(*status, "running");
  EXPECT_FALSE(fs::exists(env.runtime().StateRoot() + "/" + s->id + "/exec.fifo"));
  auto ps = env.agent().Exec(s->name, {"/bin/cat", "/proc/1/cmdline"});
  ASSERT_TRUE(ps) << ps.error().message;
  EXPECT_EQ(ps->out, std::string("/bin/sleep\0"
                                 "60\0",
                                 14));
  ASSERT_TRUE(env.agent().Stop(s->name, milliseconds(0)));
}

// A bridge start that fails at either side (the runtime's create, or the CNI plugins while
// the runtime creates) leaves no container, no runtime state, no address and no namespace.
TEST(AgentIntegrationTest, FailedBridgeStartLeavesNothingBehind) {
  AgentEnv env;
  auto runtime_ids = [&] {
    auto r =
        internal::Run({env.runtime().Binary(), "--root", env.runtime().StateRoot(), "list", "-q"});
    return r ? r->out : std::string("runtime list failed");
  };
  auto addresses = [&] {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(env.dir() + "/ipam", ec))
      n += e.path().filename().string().starts_with("100.64.");
    return n;
  };
  // The runtime refuses: the command does not exist in the image.
  RunSpec bad = env.Spec({"/no/such/program"});
  bad.network = runtime::NetworkMode::kBridge;
  auto r = env.agent().Run(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/no/such/program"), std::string::npos) << r.error().message;
  EXPECT_TRUE(env.agent().List(true).empty());
  EXPECT_EQ(runtime_ids(), "");
  EXPECT_EQ(addresses(), 0u);

  // The plugins fail (none installed where this network looks) while the runtime creates:
  // the created container is deleted.
  std::string empty_plugins = env.dir() + "/no-plugins";
  fs::create_directories(empty_plugins);
  network::CniNetwork broken({"berth-broken", "bx" + internal::RandomHex(6), "100.64.251.0/24",
                              empty_plugins, env.dir() + "/ipam-broken"});
  AgentOptions opts = env.options();
  opts.data_dir = env.dir() + "/agent-broken";
  SystemClock clock;
  auto agent = Agent::Create(opts, clock, env.images(), env.runtime(), broken);
  ASSERT_TRUE(agent) << agent.error().message;
  RunSpec spec = env.Spec({"/bin/echo", "never"});
  spec.network = runtime::NetworkMode::kBridge;
  auto f = (*agent)->Run(spec);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("cni bridge ADD"), std::string::npos) << f.error().message;
  EXPECT_TRUE((*agent)->List(true).empty());
  EXPECT_EQ(runtime_ids(), "");
  std::error_code ec;
  size_t left = 0;
  for (const auto& e : fs::directory_iterator(opts.data_dir + "/containers", ec)) ++left, (void)e;
  EXPECT_EQ(left, 0u);
}

TEST(AgentIntegrationTest, NoneAndHostNetworkModes) {
  AgentEnv env;
  auto none = env.agent().Run(env.Spec({"/bin/ls", "/sys/class/net"}));
  ASSERT_TRUE(none) << none.error().message;
  ASSERT_TRUE(env.WaitExited(none->name));
  EXPECT_EQ(env.LogText(none->name), "lo\n");
  RunSpec host = env.Spec({"/bin/ls", "/sys/class/net"});
  host.network = runtime::NetworkMode::kHost;
  auto h = env.agent().Run(host);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(env.WaitExited(h->name));
  std::string expected;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator("/sys/class/net"))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  std::string out = env.LogText(h->name);
  for (const auto& n : names)
    EXPECT_NE(out.find(n), std::string::npos) << n << " missing from " << out;
}

TEST(AgentIntegrationTest, RestartBacksOffAsConfigured) {
  ManualClock clock;
  AgentEnv env(&clock, /*thread=*/false);
  RunSpec spec = env.Spec({"/bin/sh", "-c", "echo run; exit 3"});
  spec.name = "flaky";
  spec.restart = RestartPolicy::kOnFailure;
  spec.backoff = {milliseconds(1000), 2.0, milliseconds(4000), milliseconds(60000)};
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  auto wait_restarting = [&] {
    for (int i = 0; i < 3000; ++i) {
      env.agent().Supervise();
      auto info = env.agent().Inspect("flaky");
      if (info->status == ContainerStatus::kRestarting) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  };
  const int64_t expected[] = {1000, 2000, 4000, 4000};
  for (uint32_t round = 0; round < 4; ++round) {
    ASSERT_TRUE(wait_restarting()) << "round " << round;
    auto info = env.agent().Inspect("flaky");
    EXPECT_EQ(info->exit_code, 3);
    EXPECT_EQ(info->restart_count, round);
    EXPECT_EQ(info->next_restart_in_ms, expected[round]) << "round " << round;
    clock.Advance(milliseconds(expected[round] - 1));
    env.agent().Supervise();
    EXPECT_EQ(env.agent().Inspect("flaky")->restart_count, round) << "restarted early";
    clock.Advance(milliseconds(1));
    env.agent().Supervise();
    EXPECT_EQ(env.agent().Inspect("flaky")->restart_count, round + 1);
  }
  // A healthy period resets the back-off: the next run "lasts" a minute on the clock.
  ASSERT_TRUE(wait_restarting());
  clock.Advance(milliseconds(4000));
  env.agent().Supervise();
  clock.Advance(milliseconds(60000));
  ASSERT_TRUE(wait_restarting());
  EXPECT_EQ(env.agent().Inspect("flaky")->next_restart_in_ms, 1000);
  ASSERT_TRUE(env.agent().Stop("flaky", milliseconds(100)));
  EXPECT_EQ(env.agent().Inspect("flaky")->status, ContainerStatus::kExited);
  EXPECT_GE(env.LogText("flaky").size(), 6 * 4u);  // "run\n" from every attempt
}

TEST(AgentIntegrationTest, AlwaysRestartsEvenOnSuccess) {
  AgentEnv env;
  RunSpec spec = env.Spec({"/bin/echo", "once"});
  spec.restart = RestartPolicy::kAlways;
  spec.backoff = {milliseconds(10), 1.0, milliseconds(10), milliseconds(60000)};
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(AgentEnvWaitFor([&] { return env.agent().Inspect(c->name)->restart_count >= 2; }));
}

TEST(AgentIntegrationTest, StopSendsTermThenKillAfterGrace) {
  AgentEnv env;
  auto polite = env.agent().Run(
      env.Spec({"/bin/sh", "-c",
                "trap 'echo term; exit 7' TERM; echo ready; while true; do sleep 0.05; done"}));
  ASSERT_TRUE(polite) << polite.error().message;
  ASSERT_TRUE(env.WaitForLog(polite->name, "ready"));
  auto s = env.agent().Stop(polite->name, milliseconds(10000));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->exit_code, 7);
  EXPECT_NE(env.LogText(polite->name).find("term"), std::string::npos);

  // PID 1 without a handler ignores SIGTERM: the grace runs out and SIGKILL ends it.
  auto stubborn = env.agent().Run(env.Spec({"/bin/sleep", "1000"}));
  ASSERT_TRUE(stubborn) << stubborn.error().message;
  auto k = env.agent().Stop(stubborn->name, milliseconds(300));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->exit_signal, SIGKILL);
  EXPECT_EQ(k->exit_code, 137);
  EXPECT_FALSE(ProcessAlive(stubborn->pid));
}

TEST(AgentIntegrationTest, ReadOnlyRootUserAndExec) {
  AgentEnv env;
  RunSpec spec =
      env.Spec({"/bin/sh", "-c", "touch /x 2>/dev/null; echo touch=$?; id -u; sleep 1000"});
  spec.security.read_only_rootfs = true;
  spec.user = "nobody";
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitForLog(c->name, "65534"));
  EXPECT_NE(env.LogText(c->name).find("touch=1"), std::string::npos) << env.LogText(c->name);
  auto e = env.agent().Exec(c->name, {"/bin/cat", "/etc/hostname"});
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << e->err;
  EXPECT_EQ(e->out, c->name + "\n");
}

// An app's securityContext reaches the runc config: from the spec as `berth apply` reads it,
// through the node agent's ToRunSpec, to a real container.
TEST(AgentIntegrationTest, AppSecurityContextMakesTheRootReadOnlyAndTheUserNonRoot) {
  AgentEnv env;
  auto app = orchestrator::ParseAppYaml(fmt::format(R"(name: ro
services:
  box:
    image: {}
    command: [/bin/sh, -c, "echo x > /written; echo write=$?; id -u; sleep 1000"]
    securityContext: {{readOnlyRootFilesystem: true, runAsNonRoot: true, runAsUser: 65534}}
)",
                                                    AgentEnv::kImage));
  ASSERT_TRUE(app) << app.error().message;
  orchestrator::Assignment a;
  a.spec = app->services[0];
  a.instance = {.id = "box-5ec0", .ns = "default", .app = "ro", .service = "box"};
  RunSpec spec = node::ToRunSpec(a, {"n1", "", ""});
  spec.network = runtime::NetworkMode::kNone;
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitForLog(c->name, "65534"));
  const std::string log = env.LogText(c->name);
  EXPECT_NE(log.find("Read-only file system"), std::string::npos) << log;
  EXPECT_NE(log.find("write=1"), std::string::npos) << log;
  // What an exec writes is refused too, and nothing was written.
  auto e = env.agent().Exec(c->name, {"/bin/sh", "-c", "echo y > /etc/written"});
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_NE(e->exit_code, 0);
  EXPECT_NE(e->err.find("Read-only file system"), std::string::npos) << e->err;

  // runAsNonRoot without a user, on an image that runs as root: refused at start, saying why.
  a.spec.security = {.run_as_non_root = true};
  a.instance.id = "box-0";
  RunSpec as_root = node::ToRunSpec(a, {"n1", "", ""});
  as_root.network = runtime::NetworkMode::kNone;
  auto refused = env.agent().Run(as_root);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("runAsNonRoot"), std::string::npos)
      << refused.error().message;
}

TEST(AgentIntegrationTest, LogsRotateBySize) {
  AgentOptions opts;
  opts.log_max_bytes = 8192;
  opts.log_keep_files = 2;
  AgentEnv env(nullptr, true, opts);
  auto c = env.agent().Run(env.Spec({"/bin/seq", "1", "3000"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitExited(c->name));
  EXPECT_TRUE(fs::exists(c->log_path + ".1"));
  EXPECT_TRUE(fs::exists(c->log_path + ".2"));
  EXPECT_FALSE(fs::exists(c->log_path + ".3"));
  EXPECT_LE(fs::file_size(c->log_path), 8192u);
  auto tail = env.agent().Logs(c->name, 3);
  ASSERT_TRUE(tail);
  ASSERT_EQ(tail->size(), 3u);
  EXPECT_EQ((*tail)[0].text, "2998");
  EXPECT_EQ((*tail)[2].text, "3000");
  EXPECT_EQ((*tail)[2].stream, "stdout");
}

TEST(AgentIntegrationTest, ContainerOutlivesAgentObjectAndIsAdopted) {
  AgentEnv env;
  auto c = env.agent().Run(env.Spec(
      {"/bin/sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitForLog(c->name, "tick 1"));
  env.DestroyAgent();
  EXPECT_TRUE(ProcessAlive(c->pid));
  env.RestartAgent();
  auto adopted = env.agent().Inspect(c->name);
  ASSERT_TRUE(adopted);
  EXPECT_EQ(adopted->status, ContainerStatus::kRunning);
  EXPECT_EQ(adopted->pid, c->pid);
  size_t before = env.LogText(c->name).size();
  ASSERT_TRUE(AgentEnvWaitFor([&] { return env.LogText(c->name).size() > before + 20; }));
  auto s = env.agent().Stop(c->name, milliseconds(100));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE(ProcessAlive(c->pid));
}

TEST(AgentIntegrationTest, ContainerOutlivesKilledAgentProcessAndIsAdopted) {
  AgentEnv env;
  env.DestroyAgent();
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A separate agent process: start a container, report it, die by SIGKILL.
    ::close(fds[0]);
    SystemClock clock;
    AgentOptions o = env.options();
    o.supervise_thread = false;
    auto a = Agent::Create(o, clock, env.images(), env.runtime(), env.network());
    if (!a) ::_exit(1);
    RunSpec spec = env.Spec({"/bin/sh", "-c", "while true; do echo alive; sleep 0.05; done"});
    spec.name = "survivor";
    auto c = (*a)->Run(spec);
    std::string msg = c ? std::to_string(c->pid) : "0";
    (void)!::write(fds[1], msg.data(), msg.size());
    ::close(fds[1]);
    ::raise(SIGKILL);
  }
  ::close(fds[1]);
  char buf[32] = {};
  (void)!::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  int pid = std::atoi(buf);
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(ProcessAlive(pid));
  env.RestartAgent();
  auto adopted = env.agent().Inspect("survivor");
  ASSERT_TRUE(adopted) << adopted.error().message;
  EXPECT_EQ(adopted->status, ContainerStatus::kRunning);
  EXPECT_EQ(adopted->pid, pid);
  ASSERT_TRUE(env.WaitForLog("survivor", "alive"));
}

TEST(AgentIntegrationTest, ContainerWhoseShimDiesIsStoppedAndReported) {
  AgentEnv env;
  auto c = env.agent().Run(env.Spec({"/bin/sleep", "1000"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_GT(c->shim_pid, 0);
  ASSERT_EQ(::kill(c->shim_pid, SIGKILL), 0);
  ASSERT_TRUE(env.WaitExited(c->name));
  auto info = env.agent().Inspect(c->name);
  EXPECT_NE(info->error.find("shim"), std::string::npos) << info->error;
  EXPECT_TRUE(AgentEnvWaitFor([&] { return !ProcessAlive(c->pid); }));  // not left unsupervised
}

TEST(AgentIntegrationTest, RestartingContainerIsAdoptedWithItsSchedule) {
  ManualClock clock;
  AgentEnv env(&clock, /*thread=*/false);
  RunSpec spec = env.Spec({"/bin/false"});
  spec.name = "later";
  spec.restart = RestartPolicy::kAlways;
  spec.backoff = {milliseconds(5000), 2.0, milliseconds(60000), milliseconds(60000)};
  ASSERT_TRUE(env.agent().Run(spec));
  ASSERT_TRUE(AgentEnvWaitFor([&] {
    env.agent().Supervise();
    return env.agent().Inspect("later")->status == ContainerStatus::kRestarting;
  }));
  env.RestartAgent();
  auto info = env.agent().Inspect("later");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, ContainerStatus::kRestarting);
  EXPECT_EQ(info->restart_count, 0u);
  clock.Advance(milliseconds(5000));
  env.agent().Supervise();
  EXPECT_EQ(env.agent().Inspect("later")->restart_count, 1u);
  ASSERT_TRUE(env.agent().Stop("later", milliseconds(100)));
}

TEST(AgentIntegrationTest, UserNamespaceRemapsRoot) {
  AgentEnv env;
  RunSpec spec = env.Spec({"/bin/cat", "/proc/self/uid_map"});
  spec.security.uid_map = runtime::IdMapping{0, 100000, 65536};
  auto c = env.agent().Run(spec);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitExited(c->name));
  std::string out = env.LogText(c->name);
  EXPECT_NE(out.find("100000"), std::string::npos) << out;
  EXPECT_EQ(env.agent().Inspect(c->name)->exit_code, 0);
}

TEST(AgentIntegrationTest, RemovingAnImageInUseIsRefused) {
  AgentEnv env;
  auto c = env.agent().Run(env.Spec({"/bin/true"}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(env.agent().RemoveImage(AgentEnv::kImage));
  ASSERT_TRUE(env.WaitExited(c->name));
  ASSERT_TRUE(env.agent().Remove(c->name, false));
  EXPECT_TRUE(env.agent().RemoveImage(AgentEnv::kImage));
}

// crun selected by name: the same hardened profile, limits, exec, stop and bridge
// networking as under runc. On this host's hybrid layout (hugetlb on cgroup v2) crun 1.8
// runs in a mount namespace without the v2 hierarchy; see runtime/cgroup_layout.h.
TEST(AgentCrunTest, CrunRunsTheHardenedProfileWithLimitsExecAndNetwork) {
  auto layout = runtime::ReadCgroupLayout();
  ASSERT_TRUE(layout) << layout.error().message;
  auto plan = runtime::PlanCrun(*layout);
  ASSERT_TRUE(plan) << plan.error().message;  // this host's layout is one crun can run on
  AgentEnv env(nullptr, true, {}, "crun");
  ASSERT_EQ(env.runtime().Name(), "crun");
  EXPECT_TRUE(env.runtime().Binary().ends_with("/crun"));

  auto c = env.agent().Run(env.Spec({"/probe", "status"}));
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(env.WaitExited(c->name));
  std::string out = env.LogText(c->name);
  EXPECT_NE(out.find("pid 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Seccomp:\t2"), std::string::npos) << out;
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
  EXPECT_NE(out.find("CapEff:\t00000000a80405fb"), std::string::npos) << out;

  RunSpec hog = env.Spec({"/probe", "hog"});
  hog.resources.memory_bytes = 32 << 20;
  auto h = env.agent().Run(hog);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(env.WaitExited(h->name));
  EXPECT_TRUE(env.agent().Inspect(h->name)->oom_killed);

  RunSpec bomb = env.Spec({"/probe", "forkbomb"});
  bomb.resources.pids = 32;
  auto b = env.agent().Run(bomb);
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_TRUE(env.WaitForLog(b->name, "forked "));
  std::string bout = env.LogText(b->name);
  EXPECT_LT(std::atoi(bout.substr(bout.find("forked ") + 7).c_str()), 32) << bout;

  int port = FreePort();
  RunSpec serve = env.Spec({"/probe", "serve", "8080"});
  serve.network = runtime::NetworkMode::kBridge;
  serve.ports.push_back({static_cast<uint16_t>(port), 8080, "tcp", "127.0.0.1"});
  auto s = env.agent().Run(serve);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE(env.WaitForLog(s->name, "listening on 8080"));
  std::string reply;
  for (int i = 0; i < 250 && reply.empty(); ++i) {
    reply = ReadFromPort(port);
    if (reply.empty()) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(reply, "hello from berth\n");
  auto e = env.agent().Exec(s->name, {"/bin/cat", "/etc/hostname"});
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << e->err;
  EXPECT_EQ(e->out, s->name + "\n");
  auto stopped = env.agent().Stop(s->name, milliseconds(2000));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped->status, ContainerStatus::kExited);
  // crun released the container: its state and cgroup are gone.
  auto st = env.runtime().Status(s->id);
  EXPECT_FALSE(st);
  EXPECT_FALSE(fs::exists("/sys/fs/cgroup/memory/berth/" + s->id));
}

}  // namespace
}  // namespace berth::agent::testing
