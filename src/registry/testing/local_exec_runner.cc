#include "registry/testing/local_exec_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <cstring>
#include <memory>

#include <fmt/core.h>

extern char** environ;

namespace berth::registry::testing {

using health::ProbeResult;
namespace {

class ExecSession : public std::enable_shared_from_this<ExecSession> {
 public:
  ExecSession(asio::io_context& io, pid_t pid, int pidfd, int out_fd,
              std::chrono::milliseconds timeout, ProbeDone done)
      : pid_(pid),
        pidfd_(io, pidfd),
        out_fd_(out_fd),
        timer_(io),
        timeout_(timeout),
        done_(std::move(done)) {}
  ~ExecSession() {
    if (out_fd_ >= 0) ::close(out_fd_);
  }

  void Start() {
    auto self = shared_from_this();
    timer_.expires_after(timeout_);
    timer_.async_wait([self](const asio::error_code& ec) {
      if (ec || self->reaped_) return;
      self->timed_out_ = true;
      ::kill(self->pid_, SIGKILL);
    });
    pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [self](const asio::error_code&) { self->Reap(); });
  }

 private:
  void Reap() {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    reaped_ = true;
    timer_.cancel();
    std::string out;
    char buf[512];
    ssize_t n = ::read(out_fd_, buf, sizeof(buf));
    if (n > 0) out.assign(buf, static_cast<size_t>(n));
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);
    ProbeResult result;
    if (timed_out_) {
      result = {Health::kCritical, fmt::format("timeout after {}ms; killed", timeout_.count())};
    } else if (WIFEXITED(status)) {
      int code = WEXITSTATUS(status);
      result.status = code == 0   ? Health::kPassing
                      : code == 1 ? Health::kWarning
                                  : Health::kCritical;
      result.output = fmt::format("exit {}{}{}", code, out.empty() ? "" : ": ", out);
    } else {
      result = {Health::kCritical, fmt::format("killed by signal {}", WTERMSIG(status))};
    }
    asio::error_code ignored;
    pidfd_.close(ignored);
    done_(std::move(result));
  }

  pid_t pid_;
  asio::posix::stream_descriptor pidfd_;
  int out_fd_;
  asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  ProbeDone done_;
  bool reaped_ = false;
  bool timed_out_ = false;
};

}  // namespace

void LocalExecRunner::Run(const Instance& instance, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout, ProbeDone done) {
  auto fail = [&](std::string why) {
    asio::post(io_, [why = std::move(why), done = std::move(done)]() {
      done({Health::kCritical, why});
    });
  };
  if (argv.empty()) return fail("exec: empty command");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return fail(fmt::format("exec: pipe: {}", errno));
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    return fail(fmt::format("exec {}: {}", argv[0], std::strerror(rc)));
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(pipefd[0]);
    return fail("exec: pidfd_open failed");
  }
  std::make_shared<ExecSession>(io_, pid, pidfd, pipefd[0], timeout, std::move(done))->Start();
}

}  // namespace berth::registry::testing
