// The OCI runtime as the agent sees it: a command-line program (runc, crun) that runs a
// bundle, signals, execs into and deletes containers by id. Starting is done by the
// per-container shim (agent/shim), which needs only the runtime's binary and state root;
// everything else goes through this interface. Implementations: oci_cli_runtime.h, used
// by runc.cc and crun.cc, chosen by name with MakeRuntime().
// Thread-safety: implementations are safe from any thread (each call runs a process).
#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "core/error.h"

namespace berth::agent::runtime {

struct ExecResult {
  int exit_code = -1;  // -1 when killed
  std::string out;
  std::string err;
  bool timed_out = false;  // killed at ExecOptions::timeout
  bool stopped = false;    // killed because ExecOptions::stop was requested
};

// Bounds on an exec: past `timeout` (0: none) or once `stop` is requested, the command in the
// container and what it started in its process group are SIGKILLed, and Exec returns.
struct ExecOptions {
  std::chrono::milliseconds timeout{0};
  std::stop_token stop;
};

// An exec on a terminal (the web console's shell): the master side of the terminal the
// runtime process runs on (it relays to the command's own terminal in the container), and that
// process, whose exit code is the command's. The caller owns `pty`, reaps `runtime_pid`, and
// signals the command through `pid_file` (its host pid, a session leader in the container);
// after a window size change on `pty`, SIGWINCH to the runtime passes it on.
struct TtyExec {
  int pty = -1;  // read: the command's output; write: its input
  std::string pid_file;
  int runtime_pid = -1;
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual const std::string& Name() const = 0;
  // Absolute path of the runtime binary (the shim executes it).
  virtual const std::string& Binary() const = 0;
  // The runtime's state directory (--root).
  virtual const std::string& StateRoot() const = 0;
  // Sends `signal` to the container's init (or to every process with `all`).
  virtual Result<void> Kill(const std::string& id, int signal, bool all) = 0;
  // Removes the runtime's record of a container (and its cgroup); `force` kills first.
  virtual Result<void> Delete(const std::string& id, bool force) = 0;
  // "running", "stopped", "created", "paused", or NotFound.
  virtual Result<std::string> Status(const std::string& id) = 0;
  // Runs `args` inside the running container and collects its output, within `options`.
  virtual Result<ExecResult> Exec(const std::string& id, const std::vector<std::string>& args,
                                  const std::vector<std::string>& env,
                                  const ExecOptions& options) = 0;
  // Runs `args` in the running container on a new pseudo-terminal of `rows` x `cols`.
  virtual Result<TtyExec> ExecTty(const std::string& id, const std::vector<std::string>& args,
                                  const std::vector<std::string>& env, uint16_t rows,
                                  uint16_t cols) {
    return Fail(ErrorCode::kFailedPrecondition, Name() + " cannot exec on a terminal");
  }
  // Extra berth-shim flags this runtime needs (crun on a hybrid cgroup host: "-m", run it in
  // a mount namespace without the cgroup v2 hierarchy; runc: "-f", a split start reads its
  // exec fifo instead of executing `runc start`).
  virtual std::vector<std::string> ShimArgs() const { return {}; }
};

// "runc" or "crun"; `state_root` is the runtime's --root. NotFound when the binary is
// not installed; FailedPrecondition (naming the runtime and the host's cgroup layout) when
// crun cannot run on this host's cgroup layout (see cgroup_layout.h).
Result<std::unique_ptr<Runtime>> MakeRuntime(const std::string& name,
                                             const std::string& state_root);

}  // namespace berth::agent::runtime
