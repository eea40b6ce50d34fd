// bench/container_start — how fast the agent starts containers, beside its peers.
//
//   sudo build/<dir>/bench/bench_container_start [--runs N] [--podman-runs N] [--parallel N]
//        [--runtimes runc,crun] [--no-podman]
//
// For each OCI runtime R (runc, the default, and crun):
// 1. Time from the start command to the container's first line of output (`echo hello`,
//    same image, same hardened profile), medians:
//    - berth: Agent::Run — what berthd does for `berth run` (overlay rootfs, bundle, shim,
//      `R run -d`) — until the line is in the container's log file; network none, and
//      network bridge (CNI bridge + host-local + loopback, torn down after each run);
//    - raw R: `R run` in the foreground on an equivalent bundle (same config.json, same
//      image layers on overlayfs; network none) until the line arrives on its stdout;
//    - podman: `podman --runtime R run --rm` of the same image (loaded from the OCI archive
//      the image store exports) until the line arrives on its stdout; `--network none`
//      beside berth's none, and podman's default CNI bridge beside berth's bridge.
//    Ratios: berth/raw R (none), podman/berth (none with none, bridge with bridge).
//    crun 1.8 refuses this host's hybrid cgroup layout unless cgroup v2 is out of sight:
//    berth (runtime/cgroup_layout.h), raw crun and podman-with-crun all run it in a mount
//    namespace without /sys/fs/cgroup/unified.
// 2. N containers started at once (threads calling Agent::Run) until every one has printed.
// 3. Memory per running container (runc; the shim is the same for crun): the shim's Pss (and
//    RSS) plus the agent's own growth per container, beside podman's conmon Pss for
//    detached podman containers.
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
#include "agent/runtime/cgroup_layout.h"
#include "agent/runtime/oci_cli_runtime.h"
#include "agent/runtime/runtime.h"
#include "core/json.h"
#include "core/log.h"

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
double TimeToFirstLine(const std::vector<std::string>& argv, bool hide_cgroup2 = false,
                       std::string* line_out = nullptr) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -1;
  auto t0 = Clock_::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    int nul = ::open("/dev/null", O_RDWR);
    ::dup2(nul, 0);
    ::dup2(nul, 2);
    if (hide_cgroup2 && runtime::HideCgroup2InThisProcess() != 0) ::_exit(126);
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

struct Env {
  std::string dir;
  image::ImageStore* images;
  std::string podman_image;
  int runs, podman_runs, parallel;
};

// Agent::Run until the first line is in the log; -1 on failure.
double BerthOnce(Agent& agent, const RunSpec& spec) {
  auto t0 = Clock_::now();
  auto c = agent.Run(spec);
  if (!c) {
    std::fprintf(stderr, "run: %s\n", c.error().message.c_str());
    return -1;
  }
  while (!LogHasLine(c->log_path)) std::this_thread::sleep_for(std::chrono::microseconds(200));
  double t = Ms(Clock_::now() - t0);
  while (agent.Inspect(c->id)->status != ContainerStatus::kExited)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  (void)agent.Remove(c->id, true);
  return t;
}

// An equivalent bundle for the raw runtime: the same layers on overlayfs, the same
// hardened config.json (network none).
struct RawBundle {
  std::string dir;
  bool ok = false;
  RawBundle(const Env& env, const std::string& name) : dir(env.dir + "/rawbundle-" + name) {
    for (auto d : {"/rootfs", "/upper", "/work"}) fs::create_directories(dir + d);
    auto layers = env.images->LayerDirs("berth-bench:latest");
    std::string lower;
    for (auto it = layers->rbegin(); it != layers->rend(); ++it)
      lower += (lower.empty() ? "" : ":") + *it;
    std::string mopts =
        "lowerdir=" + lower + ",upperdir=" + dir + "/upper,workdir=" + dir + "/work";
    if (::mount("overlay", (dir + "/rootfs").c_str(), "overlay", 0, mopts.c_str()) != 0) {
      std::perror("mount");
      return;
    }
    runtime::BundleSpec b;
    b.id = "raw";
    b.hostname = "raw";
    b.args = {"/bin/echo", "hello"};
    b.env = {"PATH=/bin"};
    b.rootfs = dir + "/rootfs";
    b.network = runtime::NetworkMode::kNone;
    b.cgroups_path = "/berth-bench/raw";
    std::ofstream(dir + "/config.json") << runtime::BuildOciConfig(b, 20000).dump();
    ok = true;
  }
  ~RawBundle() { ::umount2((dir + "/rootfs").c_str(), MNT_DETACH); }
};

// `R run` in the foreground on the raw bundle until the line arrives on its stdout.
double RawOnce(runtime::Runtime& rt, const RawBundle& bundle, bool hide, int i) {
  std::string id = "berth-bench-raw-" + std::to_string(i);
  double t = TimeToFirstLine(
      {rt.Binary(), "--root", rt.StateRoot(), "run", "--bundle", bundle.dir, id}, hide);
  (void)rt.Delete(id, true);
  return t;
}

double PodmanOnce(const Env& env, const std::string& runtime_name, bool hide, bool bridge) {
  if (env.podman_image.empty()) return -1;
  std::vector<std::string> argv = {"podman", "--runtime", runtime_name, "run", "--rm"};
  if (!bridge) argv.insert(argv.end(), {"--network", "none"});
  argv.insert(argv.end(), {"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                           env.podman_image, "/bin/echo", "hello"});
  return TimeToFirstLine(argv, hide);
}

// Runs `once` n+1 times (the first warms caches) into `out`; stops at a failure.
void Sample(std::vector<double>& out, int i, double t) {
  if (t >= 0 && i > 0) out.push_back(t);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 20, podman_runs = 10, parallel = 50;
  bool use_podman = true;
  std::vector<std::string> runtimes = {"runc", "crun"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string v = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--no-podman") {
      use_podman = false;
      continue;
    }
    if (a == "--runs") runs = std::atoi(v.c_str());
    if (a == "--podman-runs") podman_runs = std::atoi(v.c_str());
    if (a == "--parallel") parallel = std::atoi(v.c_str());
    if (a == "--runtimes") {
      runtimes.clear();
      for (size_t p = 0; p <= v.size();) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        if (q > p) runtimes.push_back(v.substr(p, q - p));
        p = q + 1;
      }
    }
    ++i;
  }
  if (std::getenv("BERTH_BENCH_DEBUG")) log::Configure(log::Level::kDebug, false);
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
  const std::string bridge = "bb" + internal::RandomHex(6);
  network::CniNetwork net(
      {"berth-bench", bridge, "100.64.250.0/24", "/usr/lib/cni", dir + "/ipam"});
  SystemClock clock;
  Env env{dir, images->get(), "", runs, podman_runs, parallel};

  if (use_podman && runtime::FindBinary("podman")) {
    std::string archive = dir + "/image.oci.tar";
    if (auto ok = (*images)->ExportOciArchive("berth-bench:latest", archive); !ok)
      return std::fprintf(stderr, "export: %s\n", ok.error().message.c_str()), 1;
    auto load = internal::Run({"podman", "load", "-i", archive});
    if (load && load->exit_code == 0) {
      auto pos = load->out.find("Loaded image");
      if (pos != std::string::npos) {
        env.podman_image = load->out.substr(load->out.find(':', pos) + 1);
        env.podman_image.erase(0, env.podman_image.find_first_not_of(' '));
        env.podman_image = env.podman_image.substr(0, env.podman_image.find('\n'));
        if (auto comma = env.podman_image.find(','); comma != std::string::npos)
          env.podman_image.resize(comma);
      }
    } else {
      std::fprintf(stderr, "podman load failed: %s\n", load ? load->err.c_str() : "");
    }
  }
  bool hide = false;
  if (auto layout = runtime::ReadCgroupLayout())
    hide = runtime::PlanCrun(*layout).value_or(runtime::CrunMode::kNative) ==
           runtime::CrunMode::kHideCgroup2;

  RunSpec spec;
  spec.image = "berth-bench:latest";
  spec.network = runtime::NetworkMode::kNone;
  RunSpec bridged = spec;
  bridged.network = runtime::NetworkMode::kBridge;
  std::vector<ContainerInfo> started;
  std::unique_ptr<Agent> memory_agent;
  std::unique_ptr<runtime::Runtime> memory_rt;
  double berth_kib_per_container = 0;

  for (const auto& rname : runtimes) {
    auto rt = runtime::MakeRuntime(rname, dir + "/" + rname);
    if (!rt) {
      std::fprintf(stderr, "%s: %s\n", rname.c_str(), rt.error().message.c_str());
      continue;
    }
    const bool rhide = rname == "crun" && hide;
    AgentOptions opts;
    opts.data_dir = dir + "/agent-" + rname;
    opts.shim_path = BERTH_SHIM_PATH;
    auto agent = Agent::Create(opts, clock, **images, **rt, net);
    if (!agent) return std::fprintf(stderr, "%s\n", agent.error().message.c_str()), 1;

    // Interleaved, so that the machine's changing load falls on all of them alike.
    std::vector<double> berth, berth_bridge, raw, podman, podman_bridge;
    {
      RawBundle bundle(env, rname);
      for (int i = 0; i < runs + 1 && bundle.ok; ++i) {
        Sample(berth, i, BerthOnce(**agent, spec));
        Sample(raw, i, RawOnce(**rt, bundle, rhide, i));
        if (i < podman_runs + 1) Sample(podman, i, PodmanOnce(env, rname, rhide, false));
      }
    }
    for (int i = 0; i < std::max(3, runs / 2) + 1; ++i) {
      Sample(berth_bridge, i, BerthOnce(**agent, bridged));
      if (i < podman_runs + 1) Sample(podman_bridge, i, PodmanOnce(env, rname, rhide, true));
    }
    const std::string p = "container_start_" + rname + "_";
    double mb = Median(berth), mbb = Median(berth_bridge), mr = Median(raw);
    double mp = Median(podman), mpb = Median(podman_bridge);
    Print(p + "berth_none_median", mb, "ms");
    Print(p + "berth_bridge_median", mbb, "ms");
    if (!raw.empty()) Print(p + "raw_median", mr, "ms");
    if (!podman.empty()) Print(p + "podman_none_median", mp, "ms");
    if (!podman_bridge.empty()) Print(p + "podman_bridge_median", mpb, "ms");
    if (!raw.empty()) Print(p + "berth_over_raw", mb / mr, "ratio");
    if (!podman.empty()) Print(p + "podman_over_berth_none", mp / mb, "ratio");
    if (!podman_bridge.empty()) Print(p + "podman_over_berth_bridge", mpb / mbb, "ratio");

    // 2. N at once.
    long agent_rss_before = StatusKb(::getpid(), "VmRSS:");
    RunSpec sleeper = spec;
    sleeper.cmd = {"/bin/sh", "-c", "echo up; exec sleep 100000"};
    std::vector<ContainerInfo> all_started(static_cast<size_t>(parallel));
    std::vector<std::thread> threads;
    auto t0 = Clock_::now();
    std::atomic<int> failures{0};
    for (int i = 0; i < parallel; ++i)
      threads.emplace_back([&, i] {
        auto c = (*agent)->Run(sleeper);
        if (c)
          all_started[static_cast<size_t>(i)] = *c;
        else
          ++failures, std::fprintf(stderr, "parallel run: %s\n", c.error().message.c_str());
      });
    for (auto& t : threads) t.join();
    for (const auto& c : all_started)
      while (!c.log_path.empty() && !LogHasLine(c.log_path))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    double all = Ms(Clock_::now() - t0);
    Print(p + "started_at_once", parallel - failures, "containers");
    Print(p + std::to_string(parallel) + "_at_once_berth_total", all, "ms");
    if (!memory_agent) {
      // 3. measures these (the first runtime's); the others' are removed now.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      long agent_rss_after = StatusKb(::getpid(), "VmRSS:");
      double pss = 0, rss = 0;
      int n = 0;
      for (const auto& c : all_started) {
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
      started = all_started;
      memory_agent = std::move(*agent);
      memory_rt = std::move(*rt);
      for (const auto& c : memory_agent->List(true)) (void)memory_agent->Remove(c.id, true);
      if (n) berth_kib_per_container = pss / n + agent_per;
    } else {
      for (const auto& c : (*agent)->List(true)) (void)(*agent)->Remove(c.id, true);
    }
  }

  if (!env.podman_image.empty()) {
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) {
      auto r = internal::Run({"podman", "--runtime", "runc", "run", "-d", "--network", "none",
                              "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                              env.podman_image, "/bin/sleep", "100000"});
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
      if (berth_kib_per_container > 0)
        Print("mem_per_container_conmon_over_berth", (cpss / cn) / berth_kib_per_container,
              "ratio");
    }
    for (const auto& id : ids) (void)internal::Run({"podman", "rm", "-f", "-t", "0", id});
    (void)internal::Run({"podman", "rmi", "-f", env.podman_image});
  }

  memory_agent.reset();
  (void)internal::Run({"ip", "link", "delete", bridge});
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/fs/cgroup", ec))
    ::rmdir((e.path() / "berth-bench").c_str());  // the raw runs' parent cgroup
  fs::remove_all(dir);
  return 0;
}
