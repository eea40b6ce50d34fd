#include "agent/runtime/seccomp_profile.h"

#include <errno.h>
#include <sched.h>

#include "core/json.h"

namespace berth::agent::runtime {

const std::vector<std::string>& DeniedSyscalls() {
  static const std::vector<std::string> kDenied = {
      // modules and kexec
      "init_module",
      "finit_module",
      "delete_module",
      "create_module",
      "get_kernel_syms",
      "query_module",
      "kexec_load",
      "kexec_file_load",
      // mounts and namespaces
      "mount",
      "umount",
      "umount2",
      "pivot_root",
      "unshare",
      "setns",
      "fsopen",
      "fsconfig",
      "fsmount",
      "fspick",
      "move_mount",
      "open_tree",
      "mount_setattr",
      // kernel interfaces a container has no business with
      "bpf",
      "perf_event_open",
      "add_key",
      "request_key",
      "keyctl",
      "lookup_dcookie",
      "fanotify_init",
      "open_by_handle_at",
      "name_to_handle_at",
      "userfaultfd",
      "syslog",
      "io_uring_setup",
      "io_uring_enter",
      "io_uring_register",
      "nfsservctl",
      "quotactl",
      "quotactl_fd",
      "uselib",
      "ustat",
      "sysfs",
      "_sysctl",
      "vm86",
      "vm86old",
      "ioperm",
      "iopl",
      // the node's state
      "reboot",
      "swapon",
      "swapoff",
      "acct",
      "settimeofday",
      "stime",
      "clock_settime",
      "clock_settime64",
      "clock_adjtime",
      "clock_adjtime64",
      "adjtimex",
      // NUMA policy and other processes' memory
      "mbind",
      "set_mempolicy",
      "get_mempolicy",
      "move_pages",
      "migrate_pages",
      "process_vm_readv",
      "process_vm_writev",
      "kcmp",
      "pidfd_getfd",
  };
  return kDenied;
}

nlohmann::json DefaultSeccompProfile() {
  Json syscalls = Json::array();
  syscalls.push_back(
      {{"names", DeniedSyscalls()}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", EPERM}});
  syscalls.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}});
  // clone with any namespace flag: one rule per flag, since a masked compare can only test
  // equality ((flags & F) == F).
  const uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                      CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
  for (uint64_t flag : kNamespaceFlags) {
    syscalls.push_back(
        {{"names", {"clone"}},
         {"action", "SCMP_ACT_ERRNO"},
         {"errnoRet", EPERM},
         {"args",
          {{{"index", 0}, {"value", flag}, {"valueTwo", flag}, {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  }
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
          {"syscalls", syscalls}};
}

}  // namespace berth::agent::runtime
