#include "agent/runtime/oci_cli_runtime.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <fmt/core.h>
#include <signal.h>

#include "agent/internal/sys.h"
#include "agent/runtime/cgroup_layout.h"
#include "core/json.h"

namespace berth::agent::runtime {

OciCliRuntime::OciCliRuntime(std::string name, std::string binary, std::string state_root,
                             bool hide_cgroup2)
    : name_(std::move(name)),
      binary_(std::move(binary)),
      state_root_(std::move(state_root)),
      hide_cgroup2_(hide_cgroup2) {}

std::vector<std::string> OciCliRuntime::ShimArgs() const {
  std::vector<std::string> args;
  if (hide_cgroup2_) args.push_back("-m");
  // runc's created container waits on <root>/<id>/exec.fifo: the shim starts it by reading
  // that, as `runc start` does, instead of executing runc once more.
  if (name_ == "runc") args.push_back("-f");
  return args;
}

Result<ExecResult> OciCliRuntime::RunCli(const std::vector<std::string>& argv) const {
  internal::RunOptions opts;
  if (hide_cgroup2_) opts.pre_exec = &HideCgroup2InThisProcess;
  auto r = internal::Run(argv, opts);
  if (!r) return std::unexpected(r.error());
  return ExecResult{r->exit_code, std::move(r->out), std::move(r->err)};
}

Result<std::string> FindBinary(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    std::string candidate = path.substr(i, j - i) + "/" + name;
    if (j > i && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    i = j + 1;
  }
  return Fail(ErrorCode::kNotFound, "runtime binary \"" + name + "\" not found in PATH");
}

namespace {
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

Result<void> OciCliRuntime::Kill(const std::string& id, int signal, bool all) {
  std::vector<std::string> argv = {binary_, "--root", state_root_, "kill"};
  if (all) argv.push_back("--all");
  argv.push_back(id);
  argv.push_back(std::to_string(signal));
  auto r = RunCli(argv);
  if (!r) return std::unexpected(r.error());
  if (r->exit_code != 0)
    return Fail(ErrorCode::kFailedPrecondition, name_ + " kill " + id + ": " + Trim(r->err));
  return {};
}

Result<void> OciCliRuntime::Delete(const std::string& id, bool force) {
  std::vector<std::string> argv = {binary_, "--root", state_root_, "delete"};
  if (force) argv.push_back("--force");
  argv.push_back(id);
  auto r = RunCli(argv);
  if (!r) return std::unexpected(r.error());
  if (r->exit_code != 0)
    return Fail(ErrorCode::kFailedPrecondition, name_ + " delete " + id + ": " + Trim(r->err));
  return {};
}

Result<std::string> OciCliRuntime::Status(const std::string& id) {
  auto r = RunCli({binary_, "--root", state_root_, "state", id});
  if (!r) return std::unexpected(r.error());
  if (r->exit_code != 0) return Fail(ErrorCode::kNotFound, name_ + " has no container " + id);
  auto j = ParseJson(r->out);
  if (!j) return std::unexpected(j.error());
  return j->value("status", "unknown");
}

Result<ExecResult> OciCliRuntime::Exec(const std::string& id, const std::vector<std::string>& args,
                                       const std::vector<std::string>& env,
                                       const ExecOptions& options) {
  std::vector<std::string> argv = {binary_, "--root", state_root_, "exec"};
  internal::RunOptions opts;
  if (hide_cgroup2_) opts.pre_exec = &HideCgroup2InThisProcess;
  opts.timeout = options.timeout;
  opts.stop = options.stop;
  const bool bounded = options.timeout.count() > 0 || options.stop.stop_possible();
  if (bounded) {
    // The runtime writes the command's host pid here: the command is a session leader in
    // the container, outside the runtime process's group, so a kill needs its pid.
    opts.kill_pid_file = state_root_ + "/exec-" + internal::RandomHex(16) + ".pid";
    argv.push_back("--pid-file");
    argv.push_back(opts.kill_pid_file);
  }
  for (const auto& e : env) {
    argv.push_back("--env");
    argv.push_back(e);
  }
  argv.push_back(id);
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = internal::Run(argv, opts);
  if (bounded) ::unlink(opts.kill_pid_file.c_str());
  if (!r) return std::unexpected(r.error());
  ExecResult out{r->exit_code, std::move(r->out), std::move(r->err)};
  out.timed_out = r->timed_out;
  out.stopped = r->stopped;
  return out;
}

Result<TtyExec> OciCliRuntime::ExecTty(const std::string& id, const std::vector<std::string>& args,
                                       const std::vector<std::string>& env, uint16_t rows,
                                       uint16_t cols) {
  // The runtime's own stdio is a terminal of ours: `exec --tty` then gives the command a
  // terminal in the container and relays between the two, follows our window size (on
  // SIGWINCH) and exits with the command's status. (Its --console-socket would hand over the
  // container's terminal directly, but only with --detach, which loses the exit status.)
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return Fail(ErrorCode::kInternal, fmt::format("posix_openpt: {}", std::strerror(errno)));
  char name[128];
  if (::grantpt(master) != 0 || ::unlockpt(master) != 0 || ::ptsname_r(master, name, sizeof name) != 0) {
    ::close(master);
    return Fail(ErrorCode::kInternal, fmt::format("pseudo-terminal: {}", std::strerror(errno)));
  }
  int slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    ::close(master);
    return Fail(ErrorCode::kInternal, fmt::format("open {}: {}", name, std::strerror(errno)));
  }
  // Raw from the start: the runtime makes it raw too, but keystrokes sent before it has would
  // otherwise be echoed twice.
  termios mode{};
  if (::tcgetattr(slave, &mode) == 0) {
    ::cfmakeraw(&mode);
    ::tcsetattr(slave, TCSANOW, &mode);
  }
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  ::ioctl(master, TIOCSWINSZ, &size);
  const std::string pid_file = state_root_ + "/tty-" + internal::RandomHex(12) + ".pid";
  std::vector<std::string> argv = {binary_, "--root", state_root_, "exec", "--tty", "--pid-file",
                                   pid_file};
  for (const auto& e : env) {
    argv.push_back("--env");
    argv.push_back(e);
  }
  argv.push_back(id);
  argv.insert(argv.end(), args.begin(), args.end());
  auto pid = internal::SpawnOnTerminal(argv, slave);
  ::close(slave);
  if (!pid) {
    ::close(master);
    return std::unexpected(pid.error());
  }
  TtyExec out;
  out.pty = master;
  out.pid_file = pid_file;
  out.runtime_pid = *pid;
  return out;
}

Result<std::unique_ptr<Runtime>> MakeRuntime(const std::string& name,
                                             const std::string& state_root) {
  auto bin = FindBinary(name);
  if (!bin) return std::unexpected(bin.error());
  if (name == "runc") return MakeRunc(*bin, state_root);
  if (name == "crun") {
    auto layout = ReadCgroupLayout();
    if (!layout) return std::unexpected(Wrap(layout.error(), "crun"));
    auto mode = PlanCrun(*layout);
    if (!mode) return std::unexpected(mode.error());
    return MakeCrun(*bin, state_root, *mode == CrunMode::kHideCgroup2);
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown runtime \"" + name + "\" (runc or crun)");
}

}  // namespace berth::agent::runtime
