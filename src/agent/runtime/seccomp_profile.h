// The default seccomp profile of Berth containers, in the OCI runtime spec's
// linux.seccomp form. Every syscall Docker's default profile refuses to an unprivileged
// container is refused here with EPERM: module loading, kexec, keyrings, bpf,
// perf_event_open, mount and the new mount API, unshare/setns and clone with namespace
// flags, reboot, swap, clock setting, accounting, pivot_root, open_by_handle_at,
// userfaultfd, io_uring, cross-process memory access and a few obsolete calls. clone3
// returns ENOSYS (as in Docker) so that libc falls back to clone, whose flags can be
// checked. ptrace stays allowed, as Docker allows it on kernels >= 4.8.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace berth::agent::runtime {

// The syscalls denied with EPERM (unconditionally).
const std::vector<std::string>& DeniedSyscalls();
nlohmann::json DefaultSeccompProfile();

}  // namespace berth::agent::runtime
