#include "tests/agent/test_env.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/internal/sys.h"

namespace berth::agent::testing {

namespace fs = std::filesystem;

std::string AgentEnv::ProbePath() { return BERTH_PROBE_PATH; }
std::string AgentEnv::ShimPath() { return BERTH_SHIM_PATH; }

AgentEnv::AgentEnv(Clock* clock, bool thread, AgentOptions extra, const std::string& runtime)
    : clock_(clock), thread_(thread) {
  if (!clock_) {
    own_clock_ = std::make_unique<SystemClock>();
    clock_ = own_clock_.get();
  }
  std::string hex = internal::RandomHex(6);
  dir_ = (fs::temp_directory_path() / ("berth-agent-it-" + hex)).string();
  fs::create_directories(dir_);
  ::chmod(dir_.c_str(), 0711);
  bridge_ = "bt" + hex;
  auto images = image::ImageStore::Open(dir_ + "/images");
  EXPECT_TRUE(images) << images.error().message;
  images_ = std::move(*images);

  // The test image: busybox-static with its applets, the probe, a passwd file.
  std::string ctx = dir_ + "/ctx";
  fs::create_directories(ctx + "/bin");
  fs::create_directories(ctx + "/etc");
  fs::create_directories(ctx + "/tmp");
  fs::create_directories(ctx + "/mnt");
  fs::copy_file("/bin/busybox", ctx + "/bin/busybox");
  fs::copy_file(ProbePath(), ctx + "/probe");
  for (const char* applet :
       {"sh",   "cat",   "echo", "sleep", "ls",   "id",  "mount", "unshare", "insmod", "touch",
        "true", "false", "ip",   "nc",    "wget", "seq", "yes",   "head",    "grep",   "sysctl"})
    fs::create_symlink("busybox", ctx + "/bin/" + applet);
  std::ofstream(ctx + "/etc/passwd")
      << "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n";
  std::ofstream(ctx + "/etc/group") << "root:x:0:\nnogroup:x:65534:\n";
  image::BuildOptions build;
  build.name = kImage;
  build.cmd = {"/bin/sh"};
  auto im = images_->Build(ctx, build);
  EXPECT_TRUE(im) << im.error().message;

  auto rt = runtime::MakeRuntime(runtime, dir_ + "/" + runtime);
  EXPECT_TRUE(rt) << rt.error().message;
  runtime_ = std::move(*rt);
  network::CniOptions cni;
  cni.name = "berth-" + hex;
  cni.bridge = bridge_;
  cni.subnet = "100.64." +
               std::to_string(1 + std::strtoul(hex.substr(0, 2).c_str(), nullptr, 16) % 250) +
               ".0/24";
  cni.ipam_dir = dir_ + "/ipam";
  network_ = std::make_unique<network::CniNetwork>(cni);

  options_ = extra;
  options_.data_dir = dir_ + "/agent";
  options_.shim_path = ShimPath();
  options_.supervise_thread = thread_;
  options_.supervise_interval = std::chrono::milliseconds(50);
  RestartAgent();
}

void AgentEnv::RestartAgent() {
  agent_.reset();
  auto a = Agent::Create(options_, *clock_, *images_, *runtime_, *network_);
  EXPECT_TRUE(a) << a.error().message;
  if (a) agent_ = std::move(*a);
}

AgentEnv::~AgentEnv() {
  if (!agent_) RestartAgent();
  if (agent_) {
    for (const auto& c : agent_->List(true)) {
      auto r = agent_->Remove(c.id, true);
      if (!r) ADD_FAILURE() << "cleanup of " << c.name << ": " << r.error().message;
    }
    agent_.reset();
  }
  // Whatever a crashed test left behind: runc containers, mounts, namespaces, the bridge.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(runtime_->StateRoot(), ec))
    (void)runtime_->Delete(e.path().filename(), true);
  for (const auto& e : fs::directory_iterator(dir_ + "/agent/containers", ec)) {
    ::umount2((e.path() / "bundle/rootfs").c_str(), MNT_DETACH);
    std::string id = e.path().filename();
    if (fs::exists("/run/netns/berth-" + id)) (void)network_->Detach(id, {}, "");
  }
  (void)internal::Run({"ip", "link", "delete", bridge_});
  if (!std::getenv("BERTH_KEEP_TEMP")) fs::remove_all(dir_, ec);
}

RunSpec AgentEnv::Spec(std::vector<std::string> args) const {
  RunSpec s;
  s.image = kImage;
  s.cmd = std::move(args);
  s.network = runtime::NetworkMode::kNone;
  return s;
}

bool AgentEnv::WaitExited(const std::string& name, int seconds) {
  for (int i = 0; i < seconds * 50; ++i) {
    if (!thread_) agent_->Supervise();
    auto c = agent_->Inspect(name);
    if (c && c->status == ContainerStatus::kExited) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string AgentEnv::LogText(const std::string& name) {
  std::string out;
  if (auto lines = agent_->Logs(name))
    for (const auto& l : *lines) out += l.text + "\n";
  return out;
}

bool AgentEnv::WaitForLog(const std::string& name, const std::string& text, int seconds) {
  for (int i = 0; i < seconds * 50; ++i) {
    if (LogText(name).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace berth::agent::testing
