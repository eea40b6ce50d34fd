#include "agent/internal/sys.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

extern char** environ;

namespace berth::agent::internal {

namespace {

// Starts argv with stdin/stdout/stderr on the given descriptors and nothing else open, the
// signal mask empty, in a process group of its own with `new_group`. posix_spawn (glibc:
// clone with CLONE_VM|CLONE_VFORK): no copy of the caller's page tables, and the child runs
// at once while the caller waits for its exec, instead of queueing behind other work on a
// loaded machine. Returns 0 or the errno of the failed start (exec included).
int SpawnProcess(char* const* argv, char* const* envp, int in, int out, int err, bool new_group,
                 pid_t* pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  if (int e = posix_spawn_file_actions_init(&fa); e != 0) return e;
  if (int e = posix_spawnattr_init(&attr); e != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return e;
  }
  int e = posix_spawn_file_actions_adddup2(&fa, in, 0);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&fa, out, 1);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&fa, err, 2);
  // Only stdio crosses (see Run).
  if (e == 0) e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t none;
  sigemptyset(&none);
  short flags = POSIX_SPAWN_SETSIGMASK;
  if (new_group) flags |= POSIX_SPAWN_SETPGROUP;
  if (e == 0) e = posix_spawnattr_setsigmask(&attr, &none);
  if (e == 0 && new_group) e = posix_spawnattr_setpgroup(&attr, 0);
  if (e == 0) e = posix_spawnattr_setflags(&attr, flags);
  if (e == 0) e = posix_spawnp(pid, argv[0], &fa, &attr, argv, envp ? envp : environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return e;
}

// A child's stdin, stdout and stderr pipes (close-on-exec at both ends): the child gets
// in[0], out[1] and err[1] as its 0, 1 and 2; the caller keeps in[1], out[0] and err[0].
struct StdioPipes {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};

  // Opens the three; on failure none stays open.
  Result<void> Open() {
    for (int* p : {in, out, err}) {
      if (::pipe2(p, O_CLOEXEC) != 0) {
        int e = errno;
        CloseAll();
        return Fail(ErrorCode::kInternal, std::string("pipe: ") + std::strerror(e));
      }
    }
    return {};
  }
  // The child's ends, once it has them.
  void CloseChildEnds() {
    for (int* fd : {&in[0], &out[1], &err[1]}) CloseFd(*fd);
  }
  void CloseAll() {
    for (int* p : {in, out, err}) CloseFd(p[0]), CloseFd(p[1]);
  }
  static void CloseFd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// argv and envp as exec takes them, pointing into strings this object owns. The
// environment is the options' (after the caller's own with inherit_env), or the caller's
// when the options name none.
class ExecArgs {
 public:
  ExecArgs(const std::vector<std::string>& argv, const RunOptions& options) : argv_(argv) {
    if (!options.env.empty()) {
      if (options.inherit_env)
        for (char** e = environ; *e; ++e) env_.emplace_back(*e);
      for (const auto& e : options.env) env_.push_back(e);
    }
    for (auto& a : argv_) argv_ptrs_.push_back(a.data());
    argv_ptrs_.push_back(nullptr);
    for (auto& e : env_) env_ptrs_.push_back(e.data());
    env_ptrs_.push_back(nullptr);
  }
  ExecArgs(const ExecArgs&) = delete;
  ExecArgs& operator=(const ExecArgs&) = delete;

  char* const* argv() { return argv_ptrs_.data(); }
  // Null: the caller's environment.
  char* const* envp() { return env_.empty() ? nullptr : env_ptrs_.data(); }

 private:
  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  std::vector<char*> argv_ptrs_, env_ptrs_;
};

// In a forked child: stdio on the pipes, the signal mask empty, a process group of its own
// when `new_group`, nothing else open, `pre_exec`, then the exec. Never returns.
[[noreturn]] void ExecForkedChild(const StdioPipes& pipes, ExecArgs& args, bool new_group,
                                  int (*pre_exec)()) {
  ::dup2(pipes.in[0], 0);
  ::dup2(pipes.out[1], 1);
  ::dup2(pipes.err[1], 2);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (new_group) ::setpgid(0, 0);  // a group of its own, so the run can kill what it started
  // Only stdio crosses: sockets and files the caller opened without O_CLOEXEC (Asio's
  // listeners) must not live on in a long-lived child such as a container's shim.
  if (::close_range(3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 4096; ++fd) ::close(fd);
  }
  char* const* argv = args.argv();
  if (pre_exec)
    if (int e = pre_exec(); e != 0) {
      dprintf(2, "prepare %s: %s\n", argv[0], std::strerror(e));
      ::_exit(126);
    }
  if (args.envp() == nullptr)
    ::execvp(argv[0], argv);
  else
    ::execvpe(argv[0], argv, args.envp());
  dprintf(2, "exec %s: %s\n", argv[0], std::strerror(errno));
  ::_exit(127);
}

// The bounds of one Run (RunOptions::timeout and stop) and the kill when one is reached:
// the child's process group, and the group of the pid in kill_pid_file when given.
class RunBounds {
 public:
  using Steady = std::chrono::steady_clock;

  RunBounds(const RunOptions& options, pid_t pid)
      : options_(options),
        pid_(pid),
        bounded_(options.timeout.count() > 0 || options.stop.stop_possible()),
        deadline_(options.timeout.count() > 0 ? Steady::now() + options.timeout
                                              : Steady::time_point::max()) {}

  bool bounded() const { return bounded_; }
  bool killed() const { return killed_at_ != Steady::time_point{}; }

  // Kills the run (once) when its deadline has passed or its stop was requested, and says
  // which in `result`. Then how long the caller may wait for output: -1 (unbounded), at
  // most 50 ms (the stop is polled), or nullopt once a killed run's output has been drained
  // for a second (an escaped process may hold a pipe for ever).
  std::optional<int> Check(RunResult& result) {
    if (!bounded_) return -1;
    const auto now = Steady::now();
    if (!killed()) {
      if (now >= deadline_) {
        result.timed_out = true;
        KillAll();
      } else if (options_.stop.stop_requested()) {
        result.stopped = true;
        KillAll();
      }
    }
    if (killed()) {
      if (now - killed_at_ >= std::chrono::seconds(1)) return std::nullopt;
      return 50;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
    return static_cast<int>(std::min<int64_t>(left.count(), 50));
  }

  // The output ended without a kill: the child is ending, unless it closed its output
  // itself and went on. Waits for it within the bounds (killing it at them); true when it
  // was reaped here (its status in `status`).
  bool WaitExit(RunResult& result, int* status) {
    while (true) {
      pid_t w = ::waitpid(pid_, status, WNOHANG);
      if (w == pid_ || (w < 0 && errno != EINTR)) return w == pid_;
      const bool late = Steady::now() >= deadline_;
      if (late || options_.stop.stop_requested()) {
        (late ? result.timed_out : result.stopped) = true;
        KillAll();
        return false;
      }
      ::usleep(10'000);
    }
  }

 private:
  void KillAll() {
    if (!options_.kill_pid_file.empty()) {
      // The runtime writes the file once the command has started: a command still starting
      // gets a moment to appear, so it is not left behind when the runtime dies.
      pid_t in_container = 0;
      for (int i = 0; i < 100 && in_container <= 1; ++i) {
        std::ifstream f(options_.kill_pid_file);
        if (!(f >> in_container)) in_container = 0;
        if (in_container <= 1) ::usleep(10'000);
      }
      if (in_container > 1) {
        ::kill(-in_container, SIGKILL);
        ::kill(in_container, SIGKILL);
      }
    }
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    killed_at_ = Steady::now();
  }

  const RunOptions& options_;
  const pid_t pid_;
  const bool bounded_;
  const Steady::time_point deadline_;
  Steady::time_point killed_at_{};  // set once the run is killed
};

// Feeds `stdin_data` to the child and drains its stdout and stderr into `result` together,
// so a chatty child never blocks, until both outputs end (or a killed run's drain is over).
// Closes the caller's ends of `pipes`.
void PumpStdio(StdioPipes& pipes, const std::string& stdin_data, RunBounds& bounds,
               RunResult& result) {
  size_t in_off = 0;
  int& in_fd = pipes.in[1];
  int& out_fd = pipes.out[0];
  int& err_fd = pipes.err[0];
  if (stdin_data.empty()) {
    StdioPipes::CloseFd(in_fd);
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  while (out_fd >= 0 || err_fd >= 0 || in_fd >= 0) {
    std::optional<int> wait_ms = bounds.Check(result);
    if (!wait_ms) break;
    pollfd p[3];
    int n = 0;
    if (out_fd >= 0) p[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) p[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) p[n++] = {in_fd, POLLOUT, 0};
    if (::poll(p, n, *wait_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      if (p[i].fd == in_fd) {
        ssize_t w = ::write(in_fd, stdin_data.data() + in_off, stdin_data.size() - in_off);
        if (w > 0) in_off += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) in_off = stdin_data.size();
        if (in_off >= stdin_data.size()) StdioPipes::CloseFd(in_fd);
        continue;
      }
      char buf[8192];
      ssize_t r = ::read(p[i].fd, buf, sizeof buf);
      const bool is_out = p[i].fd == out_fd;
      if (r > 0) {
        (is_out ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        StdioPipes::CloseFd(is_out ? out_fd : err_fd);
      }
    }
  }
  pipes.CloseAll();
}

}  // namespace

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> WriteFileAtomic(const std::string& path, std::string_view data, int mode, bool sync) {
  std::string tmp = path + ".tmp" + RandomHex(6);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Fail(ErrorCode::kInternal, "create " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Fail(ErrorCode::kInternal, "write " + tmp + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  if (sync) ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Fail(ErrorCode::kInternal, "rename " + tmp + ": " + std::strerror(e));
  }
  return {};
}

Result<void> MakeDirs(const std::string& path, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Fail(ErrorCode::kInternal, "mkdir " + path + ": " + ec.message());
  ::chmod(path.c_str(), mode);
  return {};
}

void RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Result<void> WriteFileInPlace(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Fail(ErrorCode::kInternal, "open " + path + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return Fail(ErrorCode::kInternal, "write " + path + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return {};
}

Result<Child> Spawn(const std::vector<std::string>& argv) {
  if (argv.empty()) return Fail(ErrorCode::kInvalidArgument, "spawn: empty argv");
  StdioPipes pipes;
  if (auto opened = pipes.Open(); !opened) return std::unexpected(opened.error());
  ExecArgs args(argv, RunOptions{});
  pid_t pid = -1;
  if (int e = SpawnProcess(args.argv(), nullptr, pipes.in[0], pipes.out[1], pipes.err[1],
                           /*new_group=*/false, &pid);
      e != 0) {
    pipes.CloseAll();
    return Fail(ErrorCode::kInternal, std::string("start ") + argv[0] + ": " + std::strerror(e));
  }
  pipes.CloseChildEnds();
  Child c;
  c.pid = pid;
  std::swap(c.in, pipes.in[1]);
  std::swap(c.out, pipes.out[0]);
  std::swap(c.err, pipes.err[0]);
  return c;
}

Result<std::string> ReadLine(Child& c) {
  while (true) {
    if (auto nl = c.out_buffer.find('\n'); nl != std::string::npos) {
      std::string line = c.out_buffer.substr(0, nl);
      c.out_buffer.erase(0, nl + 1);
      return line;
    }
    if (c.out < 0) return Fail(ErrorCode::kNotFound, "end of the child's output");
    char buf[4096];
    ssize_t r = ::read(c.out, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ::close(c.out);
      c.out = -1;
      continue;
    }
    c.out_buffer.append(buf, static_cast<size_t>(r));
  }
}

bool WriteAll(Child& c, std::string_view data) {
  if (c.in < 0) return false;
  // A child that has gone away must not kill the caller with SIGPIPE: block it for this
  // thread and take back a SIGPIPE the write raised before unblocking.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  bool ok = true;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(c.in, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    off += static_cast<size_t>(n);
  }
  if (!ok) {
    timespec zero{};
    (void)::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}

RunResult Finish(Child& c) {
  RunResult result;
  if (c.in >= 0) ::close(c.in);
  c.in = -1;
  result.out = std::move(c.out_buffer);
  c.out_buffer.clear();
  while (c.out >= 0 || c.err >= 0) {
    pollfd p[2];
    int n = 0;
    if (c.out >= 0) p[n++] = {c.out, POLLIN, 0};
    if (c.err >= 0) p[n++] = {c.err, POLLIN, 0};
    if (::poll(p, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      char buf[4096];
      ssize_t r = ::read(p[i].fd, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      const bool is_out = p[i].fd == c.out;
      if (r > 0) {
        (is_out ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else {
        ::close(p[i].fd);
        (is_out ? c.out : c.err) = -1;
      }
    }
  }
  if (c.out >= 0) ::close(c.out);
  if (c.err >= 0) ::close(c.err);
  c.out = c.err = -1;
  int status = 0;
  while (c.pid > 0 && ::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  c.pid = -1;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string RandomHex(size_t n) {
  std::string out;
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  static const char* kHex = "0123456789abcdef";
  while (out.size() < n) {
    unsigned char buf[32];
    ssize_t got = fd >= 0 ? ::read(fd, buf, sizeof buf) : -1;
    if (got <= 0) {
      for (auto& b : buf) b = static_cast<unsigned char>(std::rand());
      got = sizeof buf;
    }
    for (ssize_t i = 0; i < got && out.size() < n; ++i) out.push_back(kHex[buf[i] & 15]);
  }
  if (fd >= 0) ::close(fd);
  return out;
}

Result<RunResult> Run(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) return Fail(ErrorCode::kInvalidArgument, "run: empty argv");
  StdioPipes pipes;
  if (auto opened = pipes.Open(); !opened) return std::unexpected(opened.error());
  ExecArgs args(argv, options);
  const bool bounded = options.timeout.count() > 0 || options.stop.stop_possible();
  pid_t pid = -1;
  if (!options.pre_exec) {
    int e = SpawnProcess(args.argv(), args.envp(), pipes.in[0], pipes.out[1], pipes.err[1], bounded,
                         &pid);
    if (e != 0) {
      // As the forked child reports a failed exec.
      pipes.CloseAll();
      RunResult failed;
      failed.exit_code = 127;
      failed.err = std::string("exec ") + argv[0] + ": " + std::strerror(e) + "\n";
      return failed;
    }
  } else {
    pid = ::fork();
    if (pid == 0) ExecForkedChild(pipes, args, bounded, options.pre_exec);
  }
  if (pid < 0) {
    int e = errno;
    pipes.CloseAll();
    return Fail(ErrorCode::kInternal, std::string("fork: ") + std::strerror(e));
  }
  if (bounded) ::setpgid(pid, pid);  // as the child does: no window where -pid is not its group
  pipes.CloseChildEnds();
  RunBounds bounds(options, pid);
  RunResult result;
  PumpStdio(pipes, options.stdin_data, bounds, result);
  int status = 0;
  bool reaped = bounds.bounded() && !bounds.killed() && bounds.WaitExit(result, &status);
  while (!reaped && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace berth::agent::internal
