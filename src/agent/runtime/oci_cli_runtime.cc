#include "agent/runtime/oci_cli_runtime.h"

#include <unistd.h>

#include <cstdlib>

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
