// A command running on a terminal inside a container (the web console's shell, exec over a
// WebSocket). Its output is read on a thread of its own and handed to `on_output`; Write
// sends keystrokes, Resize changes the window, Hangup ends it (SIGHUP to the command's
// process group, SIGKILL 3 s later if it is still there). `on_exit` runs once, on the reader
// thread, with the command's exit code (-1: killed) after its last output.
// Thread-safety: every method may be called from any thread; the callbacks run on the
// reader thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "agent/runtime/runtime.h"

namespace berth::agent {

class TtySession : public std::enable_shared_from_this<TtySession> {
 public:
  struct Callbacks {
    std::function<void(std::string_view bytes)> on_output;
    std::function<void(int exit_code)> on_exit;
  };
  // Takes ownership of `exec` and starts reading.
  static std::shared_ptr<TtySession> Start(runtime::TtyExec exec, Callbacks callbacks);
  ~TtySession();

  // False once the command has ended.
  bool Write(std::string_view bytes);
  void Resize(uint16_t rows, uint16_t cols);
  void Hangup();

  TtySession(const TtySession&) = delete;
  TtySession& operator=(const TtySession&) = delete;

 private:
  TtySession(runtime::TtyExec exec, Callbacks callbacks)
      : exec_(std::move(exec)), callbacks_(std::move(callbacks)) {}
  void Read();  // the reader thread's loop
  void Signal(int signal);

  runtime::TtyExec exec_;  // pty closed by the reader thread when it ends
  Callbacks callbacks_;
  std::mutex write_mu_;                // serializes writes to the pty
  std::atomic<bool> ended_{false};     // the reader has finished
  std::atomic<int64_t> hangup_ms_{0};  // when Hangup was asked (steady ms), 0: not yet
};

}  // namespace berth::agent
