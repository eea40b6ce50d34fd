// Small OS helpers shared by the agent's parts: whole-file I/O, atomic replace, running a
// helper program (runc, CNI plugins, ip) with a given stdin/environment and collecting its
// output. Not a public API of the agent.
// Thread-safety: every function is safe from any thread (no shared state; Run uses
// posix_spawn-style fork+exec with close-on-exec pipes).
#pragma once

#include <chrono>
#include <map>
#include <stop_token>
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
  bool timed_out = false;  // killed at RunOptions::timeout
  bool stopped = false;    // killed because RunOptions::stop was requested
};
struct RunOptions {
  std::string stdin_data;
  // Replaces the environment when non-empty ("K=V").
  std::vector<std::string> env;
  bool inherit_env = true;  // with env: append to the current environment
  // Called in the child between fork and exec (async-signal-safe work only); a non-zero
  // return is an errno: the child reports it on stderr and exits 126.
  int (*pre_exec)() = nullptr;
  // Bounds: past `timeout` (0: none), or once `stop` is requested, the child's process group
  // is SIGKILLed (the child runs in a group of its own), and so is the group of the pid
  // written in `kill_pid_file` when given (runc exec --pid-file: the command in the
  // container, a session leader). Output read until then is returned; Run returns within
  // about a second of the kill even if something else still holds the output pipes.
  std::chrono::milliseconds timeout{0};
  std::stop_token stop;
  std::string kill_pid_file;
};
// Runs argv[0] (absolute path or searched in PATH) to completion. The child gets stdin,
// stdout and stderr only: every other descriptor is closed before the exec.
Result<RunResult> Run(const std::vector<std::string>& argv, const RunOptions& options = {});

// A child in dialogue with its caller: stdin, stdout and stderr on pipes (every other
// descriptor closed before the exec, as with Run). The caller reads lines from `out`,
// writes to `in`, and calls Finish, which closes `in`, reads both pipes to their end and
// reaps the child.
struct Child {
  int pid = -1;
  int in = -1, out = -1, err = -1;
  std::string out_buffer;  // read from `out` past the last line ReadLine returned
};
Result<Child> Spawn(const std::vector<std::string>& argv);
// Starts argv[0] in a session of its own with stdin, stdout and stderr on `tty` (a
// terminal's slave side); every other descriptor is closed before the exec. The pid; reap it
// with Finish on a Child holding only that pid.
Result<int> SpawnOnTerminal(const std::vector<std::string>& argv, int tty);
// The next line of the child's stdout without its '\n'; NotFound at its end (what was left
// without a newline stays in out_buffer for Finish).
Result<std::string> ReadLine(Child& child);
// Writes all of `data` to the child's stdin (false when the child no longer reads it).
bool WriteAll(Child& child, std::string_view data);
RunResult Finish(Child& child);

// Replaces the content of `path` in place (same inode: a file already bind-mounted into a
// container shows the new content), unlike WriteFileAtomic.
Result<void> WriteFileInPlace(const std::string& path, std::string_view data);

// Random lowercase hex of `n` chars (from /dev/urandom).
std::string RandomHex(size_t n);

}  // namespace berth::agent::internal
