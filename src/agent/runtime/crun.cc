// crun: same command line as runc (the shim's `run -d --pid-file --bundle`, kill, delete,
// state, exec), and much faster to start (C, no re-exec of a Go binary). crun 1.8 refuses a
// hybrid cgroup layout with controllers on v2; there berth runs it in a mount namespace
// without the v2 hierarchy (cgroup_layout.h), and refuses clearly where that cannot work.
#include "agent/runtime/oci_cli_runtime.h"

namespace berth::agent::runtime {

std::unique_ptr<Runtime> MakeCrun(const std::string& binary, const std::string& state_root,
                                  bool hide_cgroup2) {
  return std::make_unique<OciCliRuntime>("crun", binary, state_root, hide_cgroup2);
}

}  // namespace berth::agent::runtime
