// runc: the default runtime. Its CLI is the reference the shim and OciCliRuntime follow.
#include "agent/runtime/oci_cli_runtime.h"

namespace berth::agent::runtime {

std::unique_ptr<Runtime> MakeRunc(const std::string& binary, const std::string& state_root) {
  return std::make_unique<OciCliRuntime>("runc", binary, state_root);
}

}  // namespace berth::agent::runtime
