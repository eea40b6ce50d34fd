#include "agent/internal/sys.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
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
                 pid_t* pid, bool new_session = false) {
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
  if (new_session) flags |= POSIX_SPAWN_SETSID;
  if (e == 0) e = posix_spawnattr_setsigmask(&attr, &none);
  if (e == 0 && new_group) e = posix_spawnattr_setpgroup(&attr, 0);
  if (e == 0) e = posix_spawnattr_setflags(&attr, flags);
  if (e == 0) e = posix_spawnp(pid, argv[0], &fa, &attr, argv, envp ? envp : environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return e;
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
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return Fail(ErrorCode::kInternal, "pipe");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]), ::close(in_pipe[1]);
    return Fail(ErrorCode::kInternal, "pipe");
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) ::close(fd);
    return Fail(ErrorCode::kInternal, "pipe");
  }
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  if (int e = SpawnProcess(cargv.data(), nullptr, in_pipe[0], out_pipe[1], err_pipe[1],
                           /*new_group=*/false, &pid);
      e != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]})
      ::close(fd);
    return Fail(ErrorCode::kInternal, std::string("start ") + cargv[0] + ": " + std::strerror(e));
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  Child c;
  c.pid = pid;
  c.in = in_pipe[1];
  c.out = out_pipe[0];
  c.err = err_pipe[0];
  return c;
}

Result<int> SpawnOnTerminal(const std::vector<std::string>& argv, int tty) {
  if (argv.empty()) return Fail(ErrorCode::kInvalidArgument, "spawn: empty argv");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  if (int e = SpawnProcess(cargv.data(), nullptr, tty, tty, tty, /*new_group=*/false, &pid,
                           /*new_session=*/true);
      e != 0) {
    return Fail(ErrorCode::kInternal, std::string("start ") + cargv[0] + ": " + std::strerror(e));
  }
  return pid;
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
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return Fail(ErrorCode::kInternal, "pipe");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Fail(ErrorCode::kInternal, "pipe");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Fail(ErrorCode::kInternal, "pipe");

  std::vector<std::string> env_storage;
  if (!options.env.empty()) {
    if (options.inherit_env)
      for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
    for (const auto& e : options.env) env_storage.push_back(e);
  }
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : env_storage) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  const bool bounded = options.timeout.count() > 0 || options.stop.stop_possible();
  pid_t pid = -1;
  if (!options.pre_exec) {
    int e = SpawnProcess(cargv.data(), env_storage.empty() ? nullptr : cenv.data(), in_pipe[0],
                         out_pipe[1], err_pipe[1], bounded, &pid);
    if (e != 0) {
      // As the forked child reports a failed exec.
      for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]})
        ::close(fd);
      RunResult failed;
      failed.exit_code = 127;
      failed.err = std::string("exec ") + cargv[0] + ": " + std::strerror(e) + "\n";
      return failed;
    }
  } else {
    pid = ::fork();
  }
  if (pid < 0) return Fail(ErrorCode::kInternal, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (bounded) ::setpgid(0, 0);  // a group of its own, so the run can kill what it started
    // Only stdio crosses: sockets and files the caller opened without O_CLOEXEC (Asio's
    // listeners) must not live on in a long-lived child such as a container's shim.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    }
    if (options.pre_exec)
      if (int e = options.pre_exec(); e != 0) {
        dprintf(2, "prepare %s: %s\n", cargv[0], std::strerror(e));
        ::_exit(126);
      }
    if (env_storage.empty())
      ::execvp(cargv[0], cargv.data());
    else
      ::execvpe(cargv[0], cargv.data(), cenv.data());
    dprintf(2, "exec %s: %s\n", cargv[0], std::strerror(errno));
    ::_exit(127);
  }
  if (bounded) ::setpgid(pid, pid);  // as the child does: no window where -pid is not its group
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  // Feed stdin and drain stdout/stderr together so a chatty child never blocks.
  RunResult result;
  size_t in_off = 0;
  int in_fd = in_pipe[1];
  if (options.stdin_data.empty()) {
    ::close(in_fd);
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  int fds_open = 2;
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  using Steady = std::chrono::steady_clock;
  const auto deadline =
      options.timeout.count() > 0 ? Steady::now() + options.timeout : Steady::time_point::max();
  Steady::time_point killed_at{};  // set once the run is killed
  auto kill_all = [&] {
    if (!options.kill_pid_file.empty()) {
      // The runtime writes the file once the command has started: a command still starting
      // gets a moment to appear, so it is not left behind when the runtime dies.
      pid_t in_container = 0;
      for (int i = 0; i < 100 && in_container <= 1; ++i) {
        std::ifstream f(options.kill_pid_file);
        if (!(f >> in_container)) in_container = 0;
        if (in_container <= 1) ::usleep(10'000);
      }
      if (in_container > 1) {
        ::kill(-in_container, SIGKILL);
        ::kill(in_container, SIGKILL);
      }
    }
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    killed_at = Steady::now();
  };
  while (fds_open > 0 || in_fd >= 0) {
    int wait_ms = -1;
    if (bounded) {
      const auto now = Steady::now();
      if (killed_at == Steady::time_point{}) {
        if (now >= deadline) {
          result.timed_out = true;
          kill_all();
        } else if (options.stop.stop_requested()) {
          result.stopped = true;
          kill_all();
        }
      }
      if (killed_at != Steady::time_point{}) {
        // Killed: drain what is left, but not for ever (an escaped process may hold a pipe).
        if (now - killed_at >= std::chrono::seconds(1)) break;
        wait_ms = 50;
      } else {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        wait_ms = static_cast<int>(std::min<int64_t>(left.count(), 50));  // stop is polled
      }
    }
    pollfd p[3];
    int n = 0;
    if (out_fd >= 0) p[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) p[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) p[n++] = {in_fd, POLLOUT, 0};
    if (::poll(p, n, wait_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      if (p[i].fd == in_fd) {
        ssize_t w =
            ::write(in_fd, options.stdin_data.data() + in_off, options.stdin_data.size() - in_off);
        if (w > 0) in_off += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) in_off = options.stdin_data.size();
        if (in_off >= options.stdin_data.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[8192];
      ssize_t r = ::read(p[i].fd, buf, sizeof buf);
      if (r > 0) {
        (p[i].fd == out_fd ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        if (p[i].fd == out_fd) {
          ::close(out_fd);
          out_fd = -1;
        } else {
          ::close(err_fd);
          err_fd = -1;
        }
        --fds_open;
      }
    }
  }
  if (out_fd >= 0) ::close(out_fd);
  if (err_fd >= 0) ::close(err_fd);
  if (in_fd >= 0) ::close(in_fd);
  int status = 0;
  bool reaped = false;
  if (bounded && killed_at == Steady::time_point{}) {
    // The pipes closed: the child is ending, unless it closed them itself and went on.
    while (true) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid || (w < 0 && errno != EINTR)) {
        reaped = w == pid;
        break;
      }
      if (Steady::now() >= deadline || options.stop.stop_requested()) {
        (Steady::now() >= deadline ? result.timed_out : result.stopped) = true;
        kill_all();
        break;
      }
      ::usleep(10'000);
    }
  }
  while (!reaped && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace berth::agent::internal
