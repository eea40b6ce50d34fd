#include "agent/tty_session.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "agent/internal/sys.h"

namespace berth::agent {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t kKillAfterMs = 3000;

}  // namespace

std::shared_ptr<TtySession> TtySession::Start(runtime::TtyExec exec, Callbacks callbacks) {
  std::shared_ptr<TtySession> s(new TtySession(std::move(exec), std::move(callbacks)));
  // The thread holds the session until the command has ended and been reaped.
  std::thread([s] { s->Read(); }).detach();
  return s;
}

TtySession::~TtySession() { ::unlink(exec_.pid_file.c_str()); }

bool TtySession::Write(std::string_view bytes) {
  std::lock_guard lock(write_mu_);
  if (ended_.load()) return false;
  while (!bytes.empty()) {
    ssize_t n = ::write(exec_.pty, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void TtySession::Resize(uint16_t rows, uint16_t cols) {
  std::lock_guard lock(write_mu_);
  if (ended_.load() || rows == 0 || cols == 0) return;
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  ::ioctl(exec_.pty, TIOCSWINSZ, &size);
  ::kill(exec_.runtime_pid, SIGWINCH);  // the runtime passes the size on to the command's terminal
}

void TtySession::Signal(int signal) {
  auto text = internal::ReadFile(exec_.pid_file);
  if (!text) return;
  int pid = std::atoi(text->c_str());
  if (pid <= 1) return;
  if (::kill(-pid, signal) != 0) ::kill(pid, signal);
}

void TtySession::Hangup() {
  int64_t expected = 0;
  if (hangup_ms_.compare_exchange_strong(expected, SteadyMs())) Signal(SIGHUP);
}

void TtySession::Read() {
  char buf[16 * 1024];
  bool killed = false;
  for (;;) {
    pollfd p{exec_.pty, POLLIN, 0};
    int ready = ::poll(&p, 1, 500);
    if (ready < 0 && errno == EINTR) continue;
    int64_t asked = hangup_ms_.load();
    if (!killed && asked != 0 && SteadyMs() - asked > kKillAfterMs) {
      Signal(SIGKILL);
      killed = true;
    }
    if (ready == 0) continue;
    ssize_t n = ::read(exec_.pty, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // EIO: every process holding the terminal has gone
    if (callbacks_.on_output) callbacks_.on_output(std::string_view(buf, static_cast<size_t>(n)));
  }
  {
    std::lock_guard lock(write_mu_);
    ended_.store(true);
    ::close(exec_.pty);
  }
  internal::Child runtime;
  runtime.pid = exec_.runtime_pid;
  auto done = internal::Finish(runtime);
  if (callbacks_.on_exit) callbacks_.on_exit(done.exit_code);
  callbacks_ = {};
}

}  // namespace berth::agent
