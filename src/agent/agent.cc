#include "agent/agent.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "agent/internal/sys.h"
#include "core/json.h"
#include "core/log.h"

namespace berth::agent {

namespace fs = std::filesystem;
using internal::Exists;
using internal::MakeDirs;
using internal::ReadFile;
using internal::RemoveAll;
using internal::WriteFileAtomic;
using runtime::NetworkMode;

std::string_view RestartPolicyName(RestartPolicy p) {
  switch (p) {
    case RestartPolicy::kNever:
      return "never";
    case RestartPolicy::kOnFailure:
      return "on-failure";
    case RestartPolicy::kAlways:
      return "always";
  }
  return "never";
}

Result<RestartPolicy> ParseRestartPolicy(std::string_view t) {
  if (t == "never" || t == "no" || t.empty()) return RestartPolicy::kNever;
  if (t == "on-failure") return RestartPolicy::kOnFailure;
  if (t == "always") return RestartPolicy::kAlways;
  return Fail(ErrorCode::kInvalidArgument,
              "restart policy \"" + std::string(t) + "\" is not always|on-failure|never");
}

Result<NetworkMode> ParseNetworkMode(std::string_view t) {
  if (t == "bridge" || t.empty()) return NetworkMode::kBridge;
  if (t == "none") return NetworkMode::kNone;
  if (t == "host") return NetworkMode::kHost;
  return Fail(ErrorCode::kInvalidArgument,
              "network \"" + std::string(t) + "\" is not bridge|none|host");
}

std::string_view ContainerStatusName(ContainerStatus s) {
  switch (s) {
    case ContainerStatus::kCreated:
      return "created";
    case ContainerStatus::kRunning:
      return "running";
    case ContainerStatus::kRestarting:
      return "restarting";
    case ContainerStatus::kExited:
      return "exited";
  }
  return "unknown";
}

namespace {

std::string_view NetworkName(NetworkMode m) {
  switch (m) {
    case NetworkMode::kBridge:
      return "bridge";
    case NetworkMode::kNone:
      return "none";
    case NetworkMode::kHost:
      return "host";
  }
  return "bridge";
}

ContainerStatus StatusFromName(std::string_view s) {
  if (s == "running") return ContainerStatus::kRunning;
  if (s == "restarting") return ContainerStatus::kRestarting;
  if (s == "exited") return ContainerStatus::kExited;
  return ContainerStatus::kCreated;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Reads a passwd/group style file of the image, refusing symlinks (they could point at the
// host's files while the rootfs is mounted here).
std::vector<std::vector<std::string>> ReadColonFile(const std::string& path) {
  std::vector<std::vector<std::string>> out;
  struct stat st;
  std::string dir = path.substr(0, path.rfind('/'));
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return out;  // a symlinked /etc
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) return out;
  auto text = ReadFile(path);
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    size_t i = 0;
    while (i <= line.size()) {
      size_t j = line.find(':', i);
      if (j == std::string::npos) j = line.size();
      fields.push_back(line.substr(i, j - i));
      i = j + 1;
    }
    out.push_back(std::move(fields));
  }
  return out;
}

struct ResolvedUser {
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<ResolvedUser> ResolveUser(const std::string& rootfs, const std::string& user) {
  ResolvedUser r;
  if (user.empty()) return r;
  std::string u = user, g;
  if (auto colon = user.find(':'); colon != std::string::npos) {
    u = user.substr(0, colon);
    g = user.substr(colon + 1);
  }
  auto passwd = ReadColonFile(rootfs + "/etc/passwd");
  bool found = false;
  for (const auto& f : passwd) {
    if (f.size() < 4) continue;
    if ((AllDigits(u) && f[2] == u) || f[0] == u) {
      r.uid = static_cast<uid_t>(std::stoul(f[2]));
      r.gid = AllDigits(f[3]) ? static_cast<gid_t>(std::stoul(f[3])) : 0;
      found = true;
      break;
    }
  }
  if (!found) {
    if (!AllDigits(u))
      return Fail(ErrorCode::kInvalidArgument,
                  "user \"" + u + "\" is not in the image's /etc/passwd");
    r.uid = static_cast<uid_t>(std::stoul(u));
  }
  if (!g.empty()) {
    if (AllDigits(g)) {
      r.gid = static_cast<gid_t>(std::stoul(g));
    } else {
      bool gfound = false;
      for (const auto& f : ReadColonFile(rootfs + "/etc/group"))
        if (f.size() >= 3 && f[0] == g && AllDigits(f[2])) {
          r.gid = static_cast<gid_t>(std::stoul(f[2]));
          gfound = true;
        }
      if (!gfound)
        return Fail(ErrorCode::kInvalidArgument,
                    "group \"" + g + "\" is not in the image's /etc/group");
    }
  }
  return r;
}

std::vector<std::string> MergeEnv(const std::vector<std::string>& base,
                                  const std::vector<std::string>& over) {
  std::vector<std::string> out = base;
  for (const auto& kv : over) {
    std::string key = kv.substr(0, kv.find('='));
    std::erase_if(out, [&](const std::string& e) { return e.substr(0, e.find('=')) == key; });
    out.push_back(kv);
  }
  return out;
}

std::string OomFile(const std::string& cgroups_path) {
  if (Exists("/sys/fs/cgroup/memory"))
    return "/sys/fs/cgroup/memory" + cgroups_path + "/memory.oom_control";
  return "/sys/fs/cgroup" + cgroups_path + "/memory.events";
}

Json PortsJson(const std::vector<network::PortMapping>& ports) {
  Json out = Json::array();
  for (const auto& p : ports)
    out.push_back({{"host_port", p.host_port},
                   {"container_port", p.container_port},
                   {"protocol", p.protocol},
                   {"host_ip", p.host_ip}});
  return out;
}

std::vector<network::PortMapping> PortsFromJson(const Json& j) {
  std::vector<network::PortMapping> out;
  for (const auto& p : j)
    out.push_back({p.value("host_port", uint16_t{0}), p.value("container_port", uint16_t{0}),
                   p.value("protocol", "tcp"), p.value("host_ip", "127.0.0.1")});
  return out;
}

std::string ShimBesideExecutable() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto candidate = self.parent_path() / "berth-shim";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "berth-shim";
}

}  // namespace

struct Agent::Container {
  std::mutex mu;
  ContainerInfo info;  // guarded by mu
  std::string dir;
  bool want_running = false;
  Backoff backoff;
  Clock::TimePoint started_at{};
  Clock::TimePoint restart_at{};
  int64_t next_restart_wall_ms = 0;
  std::string cni_result;
  bool record_unsynced = false;  // state.json written without fsync; Supervise syncs it
};

Agent::Agent(AgentOptions options, Clock& clock, image::ImageStore& images,
             runtime::Runtime& runtime, network::Network& network)
    : options_(std::move(options)),
      clock_(clock),
      images_(images),
      runtime_(runtime),
      network_(network) {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) host_nofile_hard_ = rl.rlim_max;
}

Result<std::unique_ptr<Agent>> Agent::Create(AgentOptions options, Clock& clock,
                                             image::ImageStore& images, runtime::Runtime& runtime,
                                             network::Network& network) {
  if (options.data_dir.empty())
    return Fail(ErrorCode::kInvalidArgument, "agent: data_dir is required");
  if (options.shim_path.empty()) options.shim_path = ShimBesideExecutable();
  if (auto ok = MakeDirs(options.data_dir + "/containers", 0711); !ok)
    return std::unexpected(ok.error());
  std::unique_ptr<Agent> a(new Agent(std::move(options), clock, images, runtime, network));
  if (auto ok = a->Adopt(); !ok) return std::unexpected(ok.error());
  if (a->options_.supervise_thread) a->loop_ = std::thread([p = a.get()] { p->Loop(); });
  return a;
}

Agent::~Agent() {
  {
    std::lock_guard lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
}

void Agent::Loop() {
  std::unique_lock lock(loop_mu_);
  while (!stopping_) {
    lock.unlock();
    Supervise();
    lock.lock();
    loop_cv_.wait_for(lock, options_.supervise_interval, [&] { return stopping_; });
  }
}

Result<void> Agent::SaveLocked(const Container& c, bool sync) const {
  const ContainerInfo& i = c.info;
  Json j = {{"id", i.id},
            {"name", i.name},
            {"namespace", i.ns},
            {"image", i.image},
            {"image_id", i.image_id},
            {"status", ContainerStatusName(i.status)},
            {"pid", i.pid},
            {"shim_pid", i.shim_pid},
            {"created_ms", i.created_ms},
            {"started_ms", i.started_ms},
            {"finished_ms", i.finished_ms},
            {"exit_code", i.exit_code},
            {"exit_signal", i.exit_signal},
            {"oom_killed", i.oom_killed},
            {"error", i.error},
            {"restart_count", i.restart_count},
            {"ip", i.ip},
            {"restart", RestartPolicyName(i.restart)},
            {"network", NetworkName(i.network)},
            {"ports", PortsJson(i.ports)},
            {"want_running", c.want_running},
            {"backoff",
             {{"initial_ms", c.backoff.policy().initial.count()},
              {"factor", c.backoff.policy().factor},
              {"cap_ms", c.backoff.policy().cap.count()},
              {"reset_after_ms", c.backoff.policy().reset_after.count()},
              {"attempts", c.backoff.attempts()}}},
            {"next_restart_wall_ms", c.next_restart_wall_ms},
            {"cni_result", c.cni_result}};
  return WriteFileAtomic(c.dir + "/state.json", j.dump(1), 0600, sync);
}

ContainerInfo Agent::InfoLocked(const Container& c) const {
  ContainerInfo i = c.info;
  if (i.status == ContainerStatus::kRestarting)
    i.next_restart_in_ms = std::max<int64_t>(
        0,
        std::chrono::duration_cast<std::chrono::milliseconds>(c.restart_at - clock_.Now()).count());
  return i;
}

bool Agent::ShimAlive(int pid) const {
  if (pid <= 0) return false;
  auto comm = ReadFile("/proc/" + std::to_string(pid) + "/comm");
  return comm && comm->starts_with("berth-shim");
}

Result<void> Agent::Adopt() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.data_dir + "/containers", ec)) {
    std::string dir = e.path();
    auto text = ReadFile(dir + "/state.json");
    if (!text) continue;
    auto j = ParseJson(*text);
    if (!j) {
      log::Warn("agent", "ignoring unreadable state {}: {}", dir, j.error().message);
      continue;
    }
    auto c = std::make_shared<Container>();
    c->dir = dir;
    try {
      ContainerInfo& i = c->info;
      i.id = j->value("id", "");
      i.name = j->value("name", "");
      i.ns = j->value("namespace", "default");
      i.image = j->value("image", "");
      i.image_id = j->value("image_id", "");
      i.status = StatusFromName(j->value("status", ""));
      i.pid = j->value("pid", 0);
      i.shim_pid = j->value("shim_pid", 0);
      i.created_ms = j->value("created_ms", int64_t{0});
      i.started_ms = j->value("started_ms", int64_t{0});
      i.finished_ms = j->value("finished_ms", int64_t{0});
      i.exit_code = j->value("exit_code", 0);
      i.exit_signal = j->value("exit_signal", 0);
      i.oom_killed = j->value("oom_killed", false);
      i.error = j->value("error", "");
      i.restart_count = j->value("restart_count", 0u);
      i.ip = j->value("ip", "");
      i.restart = ParseRestartPolicy(j->value("restart", "never")).value_or(RestartPolicy::kNever);
      i.network = ParseNetworkMode(j->value("network", "bridge")).value_or(NetworkMode::kBridge);
      i.ports = PortsFromJson(j->value("ports", Json::array()));
      i.log_path = dir + "/container.log";
      c->want_running = j->value("want_running", false);
      const Json b = j->value("backoff", Json::object());
      c->backoff =
          Backoff({std::chrono::milliseconds(b.value("initial_ms", 1000)), b.value("factor", 2.0),
                   std::chrono::milliseconds(b.value("cap_ms", 60000)),
                   std::chrono::milliseconds(b.value("reset_after_ms", 30000))});
      c->backoff.set_attempts(b.value("attempts", 0u));
      c->next_restart_wall_ms = j->value("next_restart_wall_ms", int64_t{0});
      c->cni_result = j->value("cni_result", "");
    } catch (const nlohmann::json::exception& e) {
      log::Warn("agent", "ignoring malformed state {}: {}", dir, e.what());
      continue;
    }
    ContainerInfo& i = c->info;
    auto now = clock_.Now();
    c->started_at =
        now - std::chrono::milliseconds(std::max<int64_t>(0, clock_.WallMillis() - i.started_ms));
    c->restart_at = now + std::chrono::milliseconds(
                              std::max<int64_t>(0, c->next_restart_wall_ms - clock_.WallMillis()));
    if (i.status == ContainerStatus::kRunning && !Exists(dir + "/exit.json") &&
        !ShimAlive(i.shim_pid)) {
      // The shim died without recording an exit (killed with the node?): nobody holds the
      // container's output any more; stop it rather than run it unsupervised.
      (void)runtime_.Kill(i.id, SIGKILL, true);
      (void)runtime_.Delete(i.id, true);
      TeardownNetworkLocked(*c);
      i.status = ContainerStatus::kExited;
      i.exit_code = -1;
      i.error = "shim lost while the agent was down";
      i.finished_ms = clock_.WallMillis();
      (void)SaveLocked(*c);
    }
    if (i.status == ContainerStatus::kRunning)
      log::Info("agent", "adopted container {} ({})", i.name, i.id);
    std::lock_guard lock(mu_);
    containers_[i.id] = c;
  }
  return {};
}

std::shared_ptr<Agent::Container> Agent::Find(std::string_view key) const {
  std::lock_guard lock(mu_);
  if (auto it = containers_.find(std::string(key)); it != containers_.end()) return it->second;
  std::shared_ptr<Container> prefix;
  for (const auto& [id, c] : containers_) {
    if (c->info.name == key) return c;
    if (key.size() >= 6 && id.starts_with(key)) prefix = c;
  }
  return prefix;
}

Result<ContainerInfo> Agent::Run(const RunSpec& spec) {
  const auto t_start = std::chrono::steady_clock::now();
  auto image = images_.Inspect(spec.image);
  if (!image) return std::unexpected(image.error());
  auto layers = images_.LayerDirs(image->id);
  if (!layers) return std::unexpected(layers.error());

  auto c = std::make_shared<Container>();
  ContainerInfo& i = c->info;
  i.id = internal::RandomHex(16);
  i.name = spec.name.empty() ? "c-" + i.id.substr(0, 8) : spec.name;
  i.ns = spec.ns.empty() ? "default" : spec.ns;
  if (i.name.size() > 128 || i.name.find_first_of("/ \t\n:") != std::string::npos)
    return Fail(ErrorCode::kInvalidArgument, "container name \"" + i.name + "\" is not valid");
  i.image = spec.image;
  i.image_id = image->id;
  i.created_ms = clock_.WallMillis();
  i.restart = spec.restart;
  i.network = spec.network;
  i.ports = spec.ports;
  c->dir = options_.data_dir + "/containers/" + i.id;
  i.log_path = c->dir + "/container.log";
  c->backoff = Backoff(spec.backoff);
  if (!spec.ports.empty() && spec.network != NetworkMode::kBridge)
    return Fail(ErrorCode::kInvalidArgument, "published ports need --network bridge");
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, other] : containers_)
      if (other->info.name == i.name)
        return Fail(ErrorCode::kAlreadyExists, "a container named \"" + i.name + "\" exists");
    containers_[i.id] = c;
  }
  std::lock_guard clock_guard(c->mu);
  auto fail = [&](Error e) -> std::unexpected<Error> {
    ::umount2((c->dir + "/bundle/rootfs").c_str(), MNT_DETACH);
    RemoveAll(c->dir);
    std::lock_guard lock(mu_);
    containers_.erase(i.id);
    return std::unexpected(Wrap(std::move(e), "run " + i.name));
  };
  const std::string rootfs = c->dir + "/bundle/rootfs";
  for (auto sub : {"/bundle/rootfs", "/upper", "/work", "/etc"})
    if (auto ok = MakeDirs(c->dir + sub, 0711); !ok) return fail(ok.error());
  ::chmod(c->dir.c_str(), 0711);

  // The image's layers, top first, under a private writable layer.
  std::string lower;
  for (auto it = layers->rbegin(); it != layers->rend(); ++it)
    lower += (lower.empty() ? "" : ":") + *it;
  std::string opts =
      "lowerdir=" + lower + ",upperdir=" + c->dir + "/upper,workdir=" + c->dir + "/work";
  if (spec.security.uid_map)
    ::chown(
        (c->dir + "/upper").c_str(), spec.security.uid_map->host_id,
        spec.security.gid_map ? spec.security.gid_map->host_id : spec.security.uid_map->host_id);
  if (::mount("overlay", rootfs.c_str(), "overlay", 0, opts.c_str()) != 0)
    return fail(
        Error(ErrorCode::kInternal, "mount overlay rootfs: " + std::string(std::strerror(errno))));

  runtime::BundleSpec b;
  b.id = i.id;
  b.hostname = spec.hostname.empty() ? i.name.substr(0, 63) : spec.hostname;
  b.args = spec.entrypoint.empty() ? image->config.entrypoint : spec.entrypoint;
  const auto& cmd = !spec.cmd.empty() ? spec.cmd
                                      : (spec.entrypoint.empty() ? image->config.cmd
                                                                 : std::vector<std::string>{});
  b.args.insert(b.args.end(), cmd.begin(), cmd.end());
  if (b.args.empty())
    return fail(
        Error(ErrorCode::kInvalidArgument, "no command: the image has no entrypoint or cmd"));
  b.env = MergeEnv({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                   image->config.env);
  b.env = MergeEnv(b.env, {"HOSTNAME=" + b.hostname});
  b.env = MergeEnv(b.env, spec.env);
  b.cwd = !spec.working_dir.empty()
              ? spec.working_dir
              : (image->config.working_dir.empty() ? "/" : image->config.working_dir);
  auto user = ResolveUser(rootfs, spec.user.empty() ? image->config.user : spec.user);
  if (!user) return fail(user.error());
  if (spec.run_as_non_root && user->uid == 0) {
    return fail(Error(ErrorCode::kFailedPrecondition,
                      fmt::format("runAsNonRoot: {} would run as root (uid 0, user \"{}\"); set "
                                  "runAsUser or use an image with a non-root user",
                                  i.name, spec.user.empty() ? image->config.user : spec.user)));
  }
  b.uid = user->uid;
  b.gid = user->gid;
  b.rootfs = rootfs;
  b.resources = spec.resources;
  b.security = spec.security;
  b.network = spec.network;
  if (spec.network == NetworkMode::kBridge) b.netns_path = "/run/netns/berth-" + i.id;
  b.cgroups_path = "/berth/" + i.id;
  b.nofile = spec.nofile;
  // /etc/hosts, /etc/hostname and /etc/resolv.conf are the agent's files, bound in.
  auto resolv = ReadFile("/etc/resolv.conf");
  (void)WriteFileAtomic(c->dir + "/etc/resolv.conf", resolv ? *resolv : "", 0644, /*sync=*/false);
  (void)WriteFileAtomic(c->dir + "/etc/hostname", b.hostname + "\n", 0644, /*sync=*/false);
  (void)WriteFileAtomic(c->dir + "/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n", 0644,
                        /*sync=*/false);
  // Mount points made here, as the host's root: inside a user namespace the container's
  // root could not create them in directories of the image's (host-owned) layers.
  // Never through a symlinked /etc: that could point anywhere on the host.
  struct stat etc_st;
  if (::lstat((rootfs + "/etc").c_str(), &etc_st) != 0) ::mkdir((rootfs + "/etc").c_str(), 0755);
  const bool etc_is_dir =
      ::lstat((rootfs + "/etc").c_str(), &etc_st) == 0 && S_ISDIR(etc_st.st_mode);
  for (auto f : {"hosts", "hostname", "resolv.conf"}) {
    std::string target = rootfs + "/etc/" + f;
    struct stat st;
    if (etc_is_dir && (::lstat(target.c_str(), &st) != 0 || !S_ISREG(st.st_mode))) {
      ::unlink(target.c_str());
      (void)WriteFileAtomic(target, "", 0644, /*sync=*/false);
    }
    b.mounts.push_back({c->dir + "/etc/" + f, std::string("/etc/") + f, false});
  }
  Json config = runtime::BuildOciConfig(b, host_nofile_hard_);
  if (auto ok =
          WriteFileAtomic(c->dir + "/bundle/config.json", config.dump(1), 0600, /*sync=*/false);
      !ok)
    return fail(ok.error());

  c->want_running = true;
  const auto t_prepared = std::chrono::steady_clock::now();
  if (auto ok = StartLocked(*c); !ok) return fail(ok.error());
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  log::Debug("agent", "run {}: rootfs and bundle {:.1f} ms, start {:.1f} ms", i.name,
             ms(t_prepared - t_start), ms(std::chrono::steady_clock::now() - t_prepared));
  return InfoLocked(*c);
}

Result<void> Agent::StartLocked(Container& c) {
  ContainerInfo& i = c.info;
  i.error.clear();
  i.ip.clear();
  const auto t_start = std::chrono::steady_clock::now();
  const bool bridge = i.network == NetworkMode::kBridge;
  if (Exists(c.dir + "/exit.json"))
    ::rename((c.dir + "/exit.json").c_str(), (c.dir + "/exit.prev.json").c_str());
  std::vector<std::string> shim_argv = {options_.shim_path,
                                        "-s",
                                        c.dir,
                                        "-b",
                                        c.dir + "/bundle",
                                        "-i",
                                        i.id,
                                        "-r",
                                        runtime_.Binary(),
                                        "-R",
                                        runtime_.StateRoot(),
                                        "-l",
                                        std::to_string(options_.log_max_bytes),
                                        "-k",
                                        std::to_string(options_.log_keep_files),
                                        "-o",
                                        OomFile("/berth/" + i.id)};
  for (auto& a : runtime_.ShimArgs()) shim_argv.push_back(std::move(a));
  auto failed = [&](std::string msg) -> std::unexpected<Error> {
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    TeardownNetworkLocked(c);
    i.error = msg;
    if (Exists(c.dir + "/exit.json"))
      ::rename((c.dir + "/exit.json").c_str(), (c.dir + "/exit.prev.json").c_str());
    return std::unexpected(Error(ErrorCode::kFailedPrecondition, "start " + i.name + ": " + msg));
  };
  double network_ms = 0;
  internal::RunResult r;
  if (!bridge) {
    auto run = internal::Run(shim_argv);
    if (!run) return failed(run.error().message);
    r = std::move(*run);
  } else {
    // The runtime creates the container in its (still empty) namespace while the CNI
    // plugins configure that namespace; the container's process starts once both are done.
    auto netns = network_.Namespace(i.id);
    if (!netns) {
      i.error = netns.error().message;
      return std::unexpected(netns.error());
    }
    shim_argv.push_back("-c");
    auto shim = internal::Spawn(shim_argv);
    if (!shim) return failed(shim.error().message);
    const auto t_cni = std::chrono::steady_clock::now();
    auto att = network_.Attach(i.id, i.ports);
    network_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_cni).count();
    if (att) {
      i.ip = att->ip;
      c.cni_result = att->result;
    }
    auto created = internal::ReadLine(*shim);
    const bool was_created = created && created->starts_with("CR ");
    if (!att || !was_created) {
      r = internal::Finish(*shim);  // closes the shim's stdin: it deletes what it created
      if (!att) {                   // Attach has undone its part
        i.error = att.error().message;
        if (Exists(c.dir + "/exit.json"))
          ::rename((c.dir + "/exit.json").c_str(), (c.dir + "/exit.prev.json").c_str());
        return std::unexpected(att.error());
      }
      return failed(runtime_.Name() + ": " + (r.err.empty() ? "shim ended early" : r.err));
    }
    // /etc/hosts is bound into the container already: change it in place.
    std::string hostname = ReadFile(c.dir + "/etc/hostname").value_or("");
    while (!hostname.empty() && hostname.back() == '\n') hostname.pop_back();
    (void)internal::WriteFileInPlace(
        c.dir + "/etc/hosts",
        "127.0.0.1\tlocalhost\n::1\tlocalhost\n" + i.ip + "\t" + hostname + "\n");
    (void)internal::WriteAll(*shim, "g");
    r = internal::Finish(*shim);
  }
  if (r.exit_code != 0) return failed(runtime_.Name() + ": " + r.err);
  const double start_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start).count();
  log::Debug("agent", "start {}: network {:.1f} ms (beside the runtime's create), {} {:.1f} ms",
             i.name, network_ms, runtime_.Name(), start_ms);
  i.pid = std::atoi(r.out.c_str());
  auto shim_pid = ReadFile(c.dir + "/shim.pid");
  i.shim_pid = shim_pid ? std::atoi(shim_pid->c_str()) : 0;
  i.status = ContainerStatus::kRunning;
  i.started_ms = clock_.WallMillis();
  i.finished_ms = 0;
  i.exit_code = 0;
  i.exit_signal = 0;
  i.oom_killed = false;
  c.started_at = clock_.Now();
  // Not synced here: the container is running and the caller waits. The next supervision
  // pass makes the record durable (a power cut before then also ends the container).
  if (auto ok = SaveLocked(c, /*sync=*/false); !ok)
    log::Warn("agent", "save state of {}: {}", i.name, ok.error().message);
  c.record_unsynced = true;
  return {};
}

void Agent::TeardownNetworkLocked(Container& c) {
  if (c.info.network != NetworkMode::kBridge) return;
  if (auto ok = network_.Detach(c.info.id, c.info.ports, c.cni_result); !ok)
    log::Warn("agent", "network teardown of {}: {}", c.info.name, ok.error().message);
  c.cni_result.clear();
}

void Agent::HandleExitLocked(Container& c) {
  ContainerInfo& i = c.info;
  auto text = ReadFile(c.dir + "/exit.json");
  if (text) {
    if (auto j = ParseJson(*text); j && j->is_object()) try {
        i.exit_code = j->value("exit_code", -1);
        i.exit_signal = j->value("signal", 0);
        i.oom_killed = j->value("oom_killed", false);
        i.finished_ms = j->value("finished_ms", clock_.WallMillis());
        if (j->value("start_failed", false)) i.error = j->value("error", "");
      } catch (const nlohmann::json::exception& e) {
        i.error = std::string("unreadable exit record: ") + e.what();
      }
    ::rename((c.dir + "/exit.json").c_str(), (c.dir + "/exit.prev.json").c_str());
  }
  TeardownNetworkLocked(c);
  i.pid = 0;
  auto last_run =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now() - c.started_at);
  bool restart = c.want_running && (i.restart == RestartPolicy::kAlways ||
                                    (i.restart == RestartPolicy::kOnFailure && i.exit_code != 0));
  if (restart) {
    auto delay = c.backoff.Next(last_run);
    c.restart_at = clock_.Now() + delay;
    c.next_restart_wall_ms = clock_.WallMillis() + delay.count();
    i.status = ContainerStatus::kRestarting;
    log::Info("agent", "container {} exited ({}{}), restart in {} ms", i.name, i.exit_code,
              i.oom_killed ? ", oom-killed" : "", delay.count());
  } else {
    i.status = ContainerStatus::kExited;
    c.want_running = false;
  }
  (void)SaveLocked(c);
}

void Agent::Supervise() {
  std::vector<std::shared_ptr<Container>> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, c] : containers_) all.push_back(c);
  }
  for (const auto& c : all) {
    std::unique_lock lock(c->mu, std::try_to_lock);
    if (!lock.owns_lock()) continue;  // a Stop/Run/Remove is working on it
    ContainerInfo& i = c->info;
    if (c->record_unsynced) {
      c->record_unsynced = false;
      (void)SaveLocked(*c);
    }
    if (i.status == ContainerStatus::kRunning) {
      if (Exists(c->dir + "/exit.json")) {
        HandleExitLocked(*c);
      } else if (!ShimAlive(i.shim_pid) && !Exists(c->dir + "/exit.json")) {
        i.error = "shim exited without recording the container's exit";
        i.exit_code = -1;
        (void)runtime_.Delete(i.id, true);
        HandleExitLocked(*c);
      }
    }
    if (i.status == ContainerStatus::kRestarting && c->want_running &&
        clock_.Now() >= c->restart_at) {
      ++i.restart_count;
      if (auto ok = StartLocked(*c); !ok) {
        log::Warn("agent", "restart of {} failed: {}", i.name, ok.error().message);
        auto delay = c->backoff.Next(std::chrono::milliseconds(0));
        c->restart_at = clock_.Now() + delay;
        c->next_restart_wall_ms = clock_.WallMillis() + delay.count();
        (void)SaveLocked(*c);
      }
    }
  }
}

Result<ContainerInfo> Agent::Stop(std::string_view key, std::chrono::milliseconds grace) {
  auto c = Find(key);
  if (!c) return Fail(ErrorCode::kNotFound, "no container " + std::string(key));
  std::lock_guard lock(c->mu);
  c->want_running = false;
  ContainerInfo& i = c->info;
  if (i.status == ContainerStatus::kRestarting) {
    i.status = ContainerStatus::kExited;
    (void)SaveLocked(*c);
  }
  if (i.status != ContainerStatus::kRunning) return InfoLocked(*c);
  const std::string exit_file = c->dir + "/exit.json";
  auto wait_exit = [&](std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!Exists(exit_file) && ShimAlive(i.shim_pid)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  };
  if (grace.count() > 0) {
    (void)runtime_.Kill(i.id, SIGTERM, false);
    wait_exit(grace);
  }
  if (!Exists(exit_file) && ShimAlive(i.shim_pid)) {
    (void)runtime_.Kill(i.id, SIGKILL, true);
    if (!wait_exit(std::chrono::seconds(30)))
      return Fail(ErrorCode::kInternal, "container " + i.name + " did not exit after SIGKILL");
  }
  HandleExitLocked(*c);
  return InfoLocked(*c);
}

Result<ContainerInfo> Agent::Start(std::string_view key) {
  auto c = Find(key);
  if (!c) return Fail(ErrorCode::kNotFound, "no container " + std::string(key));
  std::lock_guard lock(c->mu);
  if (c->info.status == ContainerStatus::kRunning) return InfoLocked(*c);
  c->want_running = true;
  c->backoff.set_attempts(0);
  if (auto ok = StartLocked(*c); !ok) {
    c->info.status = ContainerStatus::kExited;
    c->want_running = false;
    (void)SaveLocked(*c);
    return std::unexpected(ok.error());
  }
  return InfoLocked(*c);
}

Result<void> Agent::Remove(std::string_view key, bool force) {
  auto c = Find(key);
  if (!c) return Fail(ErrorCode::kNotFound, "no container " + std::string(key));
  bool running;
  {
    std::lock_guard lock(c->mu);
    running = c->info.status == ContainerStatus::kRunning;
  }
  if (running) {
    if (!force)
      return Fail(ErrorCode::kFailedPrecondition,
                  "container " + c->info.name + " is running (stop it or force)");
    if (auto ok = Stop(c->info.id, std::chrono::milliseconds(0)); !ok)
      return std::unexpected(ok.error());
  }
  std::lock_guard lock(c->mu);
  c->want_running = false;
  (void)runtime_.Delete(c->info.id, true);
  TeardownNetworkLocked(*c);
  ::umount2((c->dir + "/bundle/rootfs").c_str(), MNT_DETACH);
  RemoveAll(c->dir);
  std::lock_guard map_lock(mu_);
  containers_.erase(c->info.id);
  return {};
}

std::vector<ContainerInfo> Agent::List(bool all) const {
  std::vector<std::shared_ptr<Container>> cs;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, c] : containers_) cs.push_back(c);
  }
  std::vector<ContainerInfo> out;
  for (const auto& c : cs) {
    std::lock_guard lock(c->mu);
    if (all || c->info.status == ContainerStatus::kRunning ||
        c->info.status == ContainerStatus::kRestarting)
      out.push_back(InfoLocked(*c));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.created_ms < b.created_ms; });
  return out;
}

Result<ContainerInfo> Agent::Inspect(std::string_view key) const {
  auto c = Find(key);
  if (!c) return Fail(ErrorCode::kNotFound, "no container " + std::string(key));
  std::lock_guard lock(c->mu);
  return InfoLocked(*c);
}

Result<std::vector<LogLine>> Agent::Logs(std::string_view key, size_t tail) const {
  auto c = Find(key);
  if (!c) return Fail(ErrorCode::kNotFound, "no container " + std::string(key));
  std::vector<std::string> files;
  for (int n = options_.log_keep_files; n >= 1; --n)
    files.push_back(c->info.log_path + "." + std::to_string(n));
  files.push_back(c->info.log_path);
  std::vector<LogLine> out;
  bool continuing = false;
  for (const auto& f : files) {
    auto text = ReadFile(f);
    if (!text) continue;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      // "<time> <stream> <F|P> <text>"
      size_t a = line.find(' ');
      size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
      if (b == std::string::npos || b + 2 > line.size()) continue;
      char tag = line[b + 1];
      std::string text_part = b + 3 <= line.size() ? line.substr(b + 3) : "";
      if (continuing && !out.empty()) {
        out.back().text += text_part;
      } else {
        out.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), text_part});
      }
      continuing = tag == 'P';
    }
  }
  if (tail > 0 && out.size() > tail) out.erase(out.begin(), out.end() - static_cast<long>(tail));
  return out;
}

Result<runtime::ExecResult> Agent::Exec(std::string_view key, const std::vector<std::string>& args,
                                        const runtime::ExecOptions& options) {
  auto c = Find(key);
  if (!c) return Fail(ErrorCode::kNotFound, "no container " + std::string(key));
  {
    std::lock_guard lock(c->mu);
    if (c->info.status != ContainerStatus::kRunning)
      return Fail(ErrorCode::kFailedPrecondition, "container " + c->info.name + " is not running");
  }
  if (args.empty()) return Fail(ErrorCode::kInvalidArgument, "exec: no command");
  return runtime_.Exec(c->info.id, args, {}, options);
}

Result<void> Agent::RemoveImage(std::string_view ref) {
  auto im = images_.Inspect(ref);
  if (!im) return std::unexpected(im.error());
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, c] : containers_)
      if (c->info.image_id == im->id && im->names.size() <= 1)
        return Fail(ErrorCode::kFailedPrecondition,
                    "image " + std::string(ref) + " is used by container " + c->info.name);
  }
  return images_.Remove(ref);
}

}  // namespace berth::agent
