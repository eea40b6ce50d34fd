// bench/container_start — how fast the agent starts containers, beside its peers.
//
//   sudo build/<dir>/bench/bench_container_start [--runs N] [--podman-runs N] [--parallel N]
//
// 1. Time from the start command to the container's first line of output (`echo hello`,
//    network none, same hardened profile):
//    - berth: Agent::Run (overlay rootfs, bundle, shim, `runc run -d`) until the line is in
//      the container's log file;
//    - runc: `runc run` in the foreground on an equivalent bundle (same config.json, same
//      image layers on overlayfs) until the line arrives on its stdout;
//    - podman: `podman --runtime runc run --rm` of the same image (loaded from the OCI
//      archive the image store exports) until the line arrives on its stdout.
//    Medians, and the ratios berth/runc and podman/berth.
// 2. N containers started at once (threads calling Agent::Run) until every one has printed.
// 3. Memory per running container: the shim's Pss (and RSS) plus the agent's own growth
//    per container, beside podman's conmon Pss for detached podman containers.
// Output: `name value unit` lines.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/image/image_store.h"
#include "agent/internal/sys.h"
#include "agent/network/cni_network.h"
#include "agent/runtime/bundle.h"
#include "agent/runtime/oci_cli_runtime.h"
#include "agent/runtime/runtime.h"
#include "core/json.h"

namespace fs = std::filesystem;
using namespace berth;
using namespace berth::agent;
using Clock_ = std::chrono::steady_clock;

namespace {

double Ms(Clock_::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void Print(const std::string& name, double value, const std::string& unit) {
  std::printf("%s %.2f %s\n", name.c_str(), value, unit.c_str());
  std::fflush(stdout);
}

long StatusKb(int pid, const char* field, const char* file = "status") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  return -1;
}

// Spawns argv with stdout on a pipe; returns the time until the first full line, waits
// for the process to end. -1 on failure.
double TimeToFirstLine(const std::vector<std::string>& argv, std::string* line_out = nullptr) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -1;
  auto t0 = Clock_::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    int nul = ::open("/dev/null", O_RDWR);
    ::dup2(nul, 0);
    ::dup2(nul, 2);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  ::close(p[1]);
  std::string got;
  double t = -1;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) {
    got.append(buf, static_cast<size_t>(n));
    if (t < 0 && got.find('\n') != std::string::npos) t = Ms(Clock_::now() - t0);
  }
  ::close(p[0]);
  int st;
  ::waitpid(pid, &st, 0);
  if (line_out) *line_out = got;
  return t;
}

bool LogHasLine(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 20, podman_runs = 10, parallel = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs") runs = std::atoi(argv[i + 1]);
    if (a == "--podman-runs") podman_runs = std::atoi(argv[i + 1]);
    if (a == "--parallel") parallel = std::atoi(argv[i + 1]);
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_container_start: run as root (runc, overlayfs, cgroups)\n");
    return 1;
  }
  std::string dir = "/tmp/berth-bench-" + internal::RandomHex(6);
  fs::create_directories(dir + "/ctx/bin");
  ::chmod(dir.c_str(), 0711);
  fs::copy_file("/bin/busybox", dir + "/ctx/bin/busybox");
  for (const char* a : {"sh", "echo", "sleep"})
    fs::create_symlink("busybox", dir + "/ctx/bin/" + a);

  auto images = image::ImageStore::Open(dir + "/images");
  if (!images) return std::fprintf(stderr, "%s\n", images.error().message.c_str()), 1;
  image::BuildOptions build;
  build.name = "berth-bench:latest";
  build.cmd = {"/bin/echo", "hello"};
  auto im = (*images)->Build(dir + "/ctx", build);
  if (!im) return std::fprintf(stderr, "%s\n", im.error().message.c_str()), 1;
  auto rt = runtime::MakeRuntime("runc", dir + "/runc");
  if (!rt) return std::fprintf(stderr, "%s\n", rt.error().message.c_str()), 1;
  const std::string bridge = "bb" + internal::RandomHex(6);
  network::CniNetwork net(
      {"berth-bench", bridge, "100.64.250.0/24", "/usr/lib/cni", dir + "/ipam"});
  SystemClock clock;
  AgentOptions opts;
  opts.data_dir = dir + "/agent";
  opts.shim_path = BERTH_SHIM_PATH;
  auto agent = Agent::Create(opts, clock, **images, **rt, net);
  if (!agent) return std::fprintf(stderr, "%s\n", agent.error().message.c_str()), 1;

  RunSpec spec;
  spec.image = "berth-bench:latest";
  spec.network = runtime::NetworkMode::kNone;

  // 1a. berth
  std::vector<double> berth;
  for (int i = 0; i < runs + 1; ++i) {
    auto t0 = Clock_::now();
    auto c = (*agent)->Run(spec);
    if (!c) return std::fprintf(stderr, "run: %s\n", c.error().message.c_str()), 1;
    while (!LogHasLine(c->log_path)) std::this_thread::sleep_for(std::chrono::microseconds(200));
    double t = Ms(Clock_::now() - t0);
    if (i > 0) berth.push_back(t);  // the first run warms caches
    while ((*agent)->Inspect(c->id)->status != ContainerStatus::kExited)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    (void)(*agent)->Remove(c->id, true);
  }

  // 1a'. berth with a bridge network (CNI ADD before, DEL after), for reference.
  std::vector<double> berth_bridge;
  RunSpec bridged = spec;
  bridged.network = runtime::NetworkMode::kBridge;
  for (int i = 0; i < std::max(3, runs / 2) + 1; ++i) {
    auto t0 = Clock_::now();
    auto c = (*agent)->Run(bridged);
    if (!c) return std::fprintf(stderr, "run (bridge): %s\n", c.error().message.c_str()), 1;
    while (!LogHasLine(c->log_path)) std::this_thread::sleep_for(std::chrono::microseconds(200));
    double t = Ms(Clock_::now() - t0);
    if (i > 0) berth_bridge.push_back(t);
    while ((*agent)->Inspect(c->id)->status != ContainerStatus::kExited)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    (void)(*agent)->Remove(c->id, true);
  }

  // 1b. raw runc on an equivalent bundle: same layers on overlayfs, same config.json.
  std::string bundle = dir + "/rawbundle";
  for (auto d : {"/rootfs", "/upper", "/work"}) fs::create_directories(bundle + d);
  auto layers = (*images)->LayerDirs("berth-bench:latest");
  std::string lower;
  for (auto it = layers->rbegin(); it != layers->rend(); ++it)
    lower += (lower.empty() ? "" : ":") + *it;
  std::string mopts =
      "lowerdir=" + lower + ",upperdir=" + bundle + "/upper,workdir=" + bundle + "/work";
  if (::mount("overlay", (bundle + "/rootfs").c_str(), "overlay", 0, mopts.c_str()) != 0)
    return std::perror("mount"), 1;
  runtime::BundleSpec b;
  b.id = "raw";
  b.hostname = "raw";
  b.args = {"/bin/echo", "hello"};
  b.env = {"PATH=/bin"};
  b.rootfs = bundle + "/rootfs";
  b.network = runtime::NetworkMode::kNone;
  b.cgroups_path = "/berth-bench/raw";
  std::ofstream(bundle + "/config.json") << runtime::BuildOciConfig(b, 20000).dump();
  std::vector<double> runc;
  for (int i = 0; i < runs + 1; ++i) {
    std::string id = "berth-bench-raw-" + std::to_string(i);
    double t =
        TimeToFirstLine({(*rt)->Binary(), "--root", dir + "/runc", "run", "--bundle", bundle, id});
    if (t < 0) return std::fprintf(stderr, "runc run failed\n"), 1;
    if (i > 0) runc.push_back(t);
    (void)internal::Run({(*rt)->Binary(), "--root", dir + "/runc", "delete", "-f", id});
  }
  ::umount2((bundle + "/rootfs").c_str(), MNT_DETACH);

  // 1c. podman, same image through an OCI archive.
  std::vector<double> podman;
  std::string podman_image;
  bool have_podman = runtime::FindBinary("podman").has_value();
  if (have_podman) {
    std::string archive = dir + "/image.oci.tar";
    if (auto ok = (*images)->ExportOciArchive("berth-bench:latest", archive); !ok)
      return std::fprintf(stderr, "export: %s\n", ok.error().message.c_str()), 1;
    auto load = internal::Run({"podman", "load", "-i", archive});
    if (load && load->exit_code == 0) {
      auto pos = load->out.find("Loaded image");
      if (pos != std::string::npos) {
        podman_image = load->out.substr(load->out.find(':', pos) + 1);
        podman_image.erase(0, podman_image.find_first_not_of(' '));
        podman_image = podman_image.substr(0, podman_image.find('\n'));
        if (auto comma = podman_image.find(','); comma != std::string::npos)
          podman_image.resize(comma);
      }
    } else {
      std::fprintf(stderr, "podman load failed: %s\n", load ? load->err.c_str() : "");
    }
    for (int i = 0; !podman_image.empty() && i < podman_runs + 1; ++i) {
      double t = TimeToFirstLine({"podman", "--runtime", "runc", "run", "--rm", "--network", "none",
                                  "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                                  podman_image, "/bin/echo", "hello"});
      if (t < 0) break;
      if (i > 0) podman.push_back(t);
    }
  }
  double mb = Median(berth), mr = Median(runc), mp = Median(podman);
  Print("container_start_first_line_berth_median", mb, "ms");
  Print("container_start_first_line_berth_bridge_median", Median(berth_bridge), "ms");
  Print("container_start_first_line_runc_median", mr, "ms");
  if (!podman.empty()) Print("container_start_first_line_podman_median", mp, "ms");
  Print("container_start_berth_over_runc", mb / mr, "ratio");
  if (!podman.empty()) Print("container_start_podman_over_berth", mp / mb, "ratio");

  // 2. N at once.
  long agent_rss_before = StatusKb(::getpid(), "VmRSS:");
  RunSpec sleeper = spec;
  sleeper.cmd = {"/bin/sh", "-c", "echo up; exec sleep 100000"};
  std::vector<ContainerInfo> started(static_cast<size_t>(parallel));
  std::vector<std::thread> threads;
  auto t0 = Clock_::now();
  std::atomic<int> failures{0};
  for (int i = 0; i < parallel; ++i)
    threads.emplace_back([&, i] {
      auto c = (*agent)->Run(sleeper);
      if (c)
        started[static_cast<size_t>(i)] = *c;
      else
        ++failures, std::fprintf(stderr, "parallel run: %s\n", c.error().message.c_str());
    });
  for (auto& t : threads) t.join();
  for (const auto& c : started)
    while (!c.log_path.empty() && !LogHasLine(c.log_path))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  double all = Ms(Clock_::now() - t0);
  Print("containers_started_at_once", parallel - failures, "containers");
  Print("container_start_" + std::to_string(parallel) + "_at_once_berth_total", all, "ms");

  // 3. Memory per running container.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long agent_rss_after = StatusKb(::getpid(), "VmRSS:");
  double pss = 0, rss = 0;
  int n = 0;
  for (const auto& c : started) {
    if (c.shim_pid <= 0) continue;
    pss += static_cast<double>(StatusKb(c.shim_pid, "Pss:", "smaps_rollup"));
    rss += static_cast<double>(StatusKb(c.shim_pid, "VmRSS:"));
    ++n;
  }
  double agent_per =
      n ? static_cast<double>(std::max(0L, agent_rss_after - agent_rss_before)) / n : 0;
  if (n) {
    Print("mem_per_container_berth_shim_pss", pss / n, "KiB");
    Print("mem_per_container_berth_shim_rss", rss / n, "KiB");
    Print("mem_per_container_berth_agent_growth", agent_per, "KiB");
    Print("mem_per_container_berth_total", pss / n + agent_per, "KiB");
  }
  if (!podman_image.empty()) {
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) {
      auto r = internal::Run({"podman", "--runtime", "runc", "run", "-d", "--network", "none",
                              "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                              podman_image, "/bin/sleep", "100000"});
      if (r && r->exit_code == 0) ids.push_back(r->out.substr(0, 64));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    double cpss = 0, crss = 0;
    int cn = 0;
    for (const auto& e : fs::directory_iterator("/proc")) {
      std::string pid = e.path().filename();
      if (!std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
      auto comm = internal::ReadFile("/proc/" + pid + "/comm");
      if (!comm || !comm->starts_with("conmon")) continue;
      auto cmd = internal::ReadFile("/proc/" + pid + "/cmdline");
      bool ours = false;
      for (const auto& id : ids) ours |= cmd && cmd->find(id) != std::string::npos;
      if (!ours) continue;
      cpss += static_cast<double>(StatusKb(std::atoi(pid.c_str()), "Pss:", "smaps_rollup"));
      crss += static_cast<double>(StatusKb(std::atoi(pid.c_str()), "VmRSS:"));
      ++cn;
    }
    if (cn) {
      Print("mem_per_container_podman_conmon_pss", cpss / cn, "KiB");
      Print("mem_per_container_podman_conmon_rss", crss / cn, "KiB");
      Print("mem_per_container_conmon_over_berth", (cpss / cn) / (pss / std::max(n, 1) + agent_per),
            "ratio");
    }
    for (const auto& id : ids) (void)internal::Run({"podman", "rm", "-f", "-t", "0", id});
    (void)internal::Run({"podman", "rmi", "-f", podman_image});
  }

  for (const auto& c : (*agent)->List(true)) (void)(*agent)->Remove(c.id, true);
  agent->reset();
  (void)internal::Run({"ip", "link", "delete", bridge});
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/fs/cgroup", ec))
    ::rmdir((e.path() / "berth-bench").c_str());  // the raw runc runs' parent cgroup
  fs::remove_all(dir);
  return 0;
}
