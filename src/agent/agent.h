// The node agent's container manager: runs images as hardened containers and supervises
// them. It composes the image store (rootfs from layers on overlayfs), the network
// (CNI namespace per container), the OCI runtime (bundle + per-container shim) and the
// restart policy (Backoff on the injected Clock).
//
// Every container lives in <data_dir>/containers/<id>/: state.json (this record),
// bundle/config.json, the overlay upper/work dirs, container.log (rotated by the shim) and
// the shim's exit.json once the container has exited. The shim, not the agent, holds the
// container's stdout/stderr pipes, so containers keep running and logging when the agent
// exits; a new Agent over the same data directory adopts them.
//
// Supervise() is one supervision pass (exits, OOM reports, restarts due); a background
// thread calls it every `supervise_interval` unless `supervise_thread` is false (tests
// drive it by hand with a ManualClock).
// Thread-safety: all public methods are safe from any thread. `mu_` guards the map of
// containers; each container's own mutex serializes operations on it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agent/backoff.h"
#include "agent/image/image_store.h"
#include "agent/network/network.h"
#include "agent/runtime/bundle.h"
#include "agent/runtime/runtime.h"
#include "core/clock.h"
#include "core/error.h"

namespace berth::agent {

enum class RestartPolicy { kNever, kOnFailure, kAlways };
std::string_view RestartPolicyName(RestartPolicy p);
Result<RestartPolicy> ParseRestartPolicy(std::string_view text);
Result<runtime::NetworkMode> ParseNetworkMode(std::string_view text);

// What `berth run` asks for.
struct RunSpec {
  std::string name;            // empty: generated
  std::string ns = "default";  // the namespace it belongs to (who may see and touch it)
  std::string image;
  std::vector<std::string> entrypoint;  // replaces the image's when non-empty
  std::vector<std::string> cmd;         // replaces the image's Cmd when non-empty
  std::vector<std::string> env;         // "K=V", on top of the image's
  std::string user;                     // "uid[:gid]" or a name from the image's /etc/passwd
  std::string working_dir;
  std::string hostname;
  runtime::Resources resources;
  runtime::SecurityProfile security;  // the API refuses privileged/cap_add unless admin
  // Refuse to start when the user (`user`, else the image's) resolves to uid 0.
  bool run_as_non_root = false;
  runtime::NetworkMode network = runtime::NetworkMode::kBridge;
  std::vector<network::PortMapping> ports;
  RestartPolicy restart = RestartPolicy::kNever;
  BackoffPolicy backoff;
  uint64_t nofile = 1024;
};

enum class ContainerStatus { kCreated, kRunning, kRestarting, kExited };
std::string_view ContainerStatusName(ContainerStatus s);

struct ContainerInfo {
  std::string id;
  std::string name;
  std::string ns = "default";
  std::string image;
  std::string image_id;
  ContainerStatus status = ContainerStatus::kCreated;
  int pid = 0;
  int shim_pid = 0;
  int64_t created_ms = 0;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  int exit_code = 0;
  int exit_signal = 0;
  bool oom_killed = false;
  std::string error;  // why the last start failed, or how the container was lost
  uint32_t restart_count = 0;
  int64_t next_restart_in_ms = 0;  // kRestarting: delay left
  std::string ip;
  std::string log_path;
  RestartPolicy restart = RestartPolicy::kNever;
  runtime::NetworkMode network = runtime::NetworkMode::kBridge;
  std::vector<network::PortMapping> ports;
};

struct LogLine {
  std::string time;    // RFC 3339 with nanoseconds
  std::string stream;  // "stdout" | "stderr"
  std::string text;
};

struct AgentOptions {
  std::string data_dir;
  std::string shim_path;  // empty: berth-shim beside this executable, then PATH
  uint64_t log_max_bytes = 10 << 20;
  int log_keep_files = 3;
  bool supervise_thread = true;
  std::chrono::milliseconds supervise_interval{200};
};

class Agent {
 public:
  // Opens (or creates) the data directory and adopts the containers recorded there.
  static Result<std::unique_ptr<Agent>> Create(AgentOptions options, Clock& clock,
                                               image::ImageStore& images, runtime::Runtime& runtime,
                                               network::Network& network);
  // Stops supervising; running containers keep running.
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Creates and starts a container; returns once the runtime reports it started.
  Result<ContainerInfo> Run(const RunSpec& spec);
  // SIGTERM, up to `grace` for it to exit, then SIGKILL to every process. No restart.
  Result<ContainerInfo> Stop(std::string_view name_or_id, std::chrono::milliseconds grace);
  // Starts an exited container again (same rootfs, same spec).
  Result<ContainerInfo> Start(std::string_view name_or_id);
  // Removes an exited container (a running one only with `force`, which kills it).
  Result<void> Remove(std::string_view name_or_id, bool force);
  std::vector<ContainerInfo> List(bool all) const;
  Result<ContainerInfo> Inspect(std::string_view name_or_id) const;
  // The last `tail` lines (0: all) of the container's output, oldest first.
  Result<std::vector<LogLine>> Logs(std::string_view name_or_id, size_t tail = 0) const;
  // Runs `args` in the running container; `options` bound it (timeout, stop: the command is
  // killed and the result says so).
  Result<runtime::ExecResult> Exec(std::string_view name_or_id,
                                   const std::vector<std::string>& args,
                                   const runtime::ExecOptions& options = {});
  // Refuses to remove an image a container uses.
  Result<void> RemoveImage(std::string_view ref);

  // One supervision pass: records exits, tears down networks, restarts what is due.
  void Supervise();

  const std::string& data_dir() const { return options_.data_dir; }

 private:
  struct Container;
  Agent(AgentOptions options, Clock& clock, image::ImageStore& images, runtime::Runtime& runtime,
        network::Network& network);
  Result<void> Adopt();
  std::shared_ptr<Container> Find(std::string_view name_or_id) const;
  Result<void> StartLocked(Container& c);
  void HandleExitLocked(Container& c);
  void TeardownNetworkLocked(Container& c);
  // Writes <dir>/state.json (atomically; fsynced unless `sync` is false).
  Result<void> SaveLocked(const Container& c, bool sync = true) const;
  ContainerInfo InfoLocked(const Container& c) const;
  bool ShimAlive(int pid) const;
  void Loop();

  const AgentOptions options_;
  Clock& clock_;
  image::ImageStore& images_;
  runtime::Runtime& runtime_;
  network::Network& network_;
  uint64_t host_nofile_hard_ = 1024;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Container>> containers_;  // by id; guarded by mu_

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stopping_ = false;  // guarded by loop_mu_
  std::thread loop_;
};

}  // namespace berth::agent
