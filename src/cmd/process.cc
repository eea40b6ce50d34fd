#include "cmd/process.h"

#include <fmt/core.h>
#include <pthread.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace berth {

Result<void> PrepareDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Fail(ErrorCode::kInternal,
                fmt::format("cannot create data directory {}: {}", dir, ec.message()));
  if (::chmod(dir.c_str(), 0700) != 0)
    return Fail(ErrorCode::kInternal, fmt::format("cannot make data directory {} private: {}", dir,
                                                  std::strerror(errno)));
  return {};
}

sigset_t BlockStopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

}  // namespace berth
