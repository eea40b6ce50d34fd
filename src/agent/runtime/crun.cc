// crun: same command line as runc (the shim's `run -d --pid-file --bundle`, kill, delete,
// state, exec). crun 1.8 refuses hosts with a hybrid cgroup v1+v2 layout; it is selectable
// by name (`--runtime crun`) where the layout is pure v1 or v2.
#include "agent/runtime/oci_cli_runtime.h"

namespace berth::agent::runtime {

std::unique_ptr<Runtime> MakeCrun(const std::string& binary, const std::string& state_root) {
  return std::make_unique<OciCliRuntime>("crun", binary, state_root);
}

}  // namespace berth::agent::runtime
