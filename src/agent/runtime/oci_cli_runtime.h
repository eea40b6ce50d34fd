// A Runtime driven through the command line that runc and crun share
// (`<bin> --root R kill|delete|state|exec ...`). runc.cc and crun.cc construct it.
// Thread-safety: stateless after construction; safe from any thread.
#pragma once

#include "agent/runtime/runtime.h"

namespace berth::agent::runtime {

class OciCliRuntime final : public Runtime {
 public:
  // `hide_cgroup2`: every runtime call runs in a mount namespace without
  // /sys/fs/cgroup/unified (crun on a hybrid host, see cgroup_layout.h).
  OciCliRuntime(std::string name, std::string binary, std::string state_root,
                bool hide_cgroup2 = false);
  const std::string& Name() const override { return name_; }
  const std::string& Binary() const override { return binary_; }
  const std::string& StateRoot() const override { return state_root_; }
  Result<void> Kill(const std::string& id, int signal, bool all) override;
  Result<void> Delete(const std::string& id, bool force) override;
  Result<std::string> Status(const std::string& id) override;
  Result<ExecResult> Exec(const std::string& id, const std::vector<std::string>& args,
                          const std::vector<std::string>& env, const ExecOptions& options) override;
  Result<TtyExec> ExecTty(const std::string& id, const std::vector<std::string>& args,
                          const std::vector<std::string>& env, uint16_t rows,
                          uint16_t cols) override;
  std::vector<std::string> ShimArgs() const override;

 private:
  Result<ExecResult> RunCli(const std::vector<std::string>& argv) const;
  const std::string name_;
  const std::string binary_;
  const std::string state_root_;
  const bool hide_cgroup2_;
};

// The absolute path of `name` found in PATH (and /usr/sbin, /usr/bin), or NotFound.
Result<std::string> FindBinary(const std::string& name);
std::unique_ptr<Runtime> MakeRunc(const std::string& binary, const std::string& state_root);
// crun; `hide_cgroup2` as for OciCliRuntime (MakeRuntime decides it from PlanCrun).
std::unique_ptr<Runtime> MakeCrun(const std::string& binary, const std::string& state_root,
                                  bool hide_cgroup2 = false);

}  // namespace berth::agent::runtime
