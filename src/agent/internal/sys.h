// Small OS helpers shared by the agent's parts: whole-file I/O, atomic replace, running a
// helper program (runc, CNI plugins, ip) with a given stdin/environment and collecting its
// output. Not a public API of the agent.
// Thread-safety: every function is safe from any thread (no shared state; Run uses
// posix_spawn-style fork+exec with close-on-exec pipes).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::agent::internal {

Result<std::string> ReadFile(const std::string& path);
// Writes `data` to path.tmp and renames it over `path`; with `sync`, fsyncs first (for
// records that must survive a power cut; files the agent regenerates skip it).
Result<void> WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644,
                             bool sync = true);
Result<void> MakeDirs(const std::string& path, int mode = 0755);
// Removes `path` recursively; a missing path is fine.
void RemoveAll(const std::string& path);
bool Exists(const std::string& path);

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};
struct RunOptions {
  std::string stdin_data;
  // Replaces the environment when non-empty ("K=V").
  std::vector<std::string> env;
  bool inherit_env = true;  // with env: append to the current environment
  // Called in the child between fork and exec (async-signal-safe work only); a non-zero
  // return is an errno: the child reports it on stderr and exits 126.
  int (*pre_exec)() = nullptr;
};
// Runs argv[0] (absolute path or searched in PATH) to completion.
Result<RunResult> Run(const std::vector<std::string>& argv, const RunOptions& options = {});

// Random lowercase hex of `n` chars (from /dev/urandom).
std::string RandomHex(size_t n);

}  // namespace berth::agent::internal
