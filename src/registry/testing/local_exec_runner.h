// ExecRunner that runs the check command as a local process: a test double for the checker's
// tests only. berthd never runs one (exec checks run inside containers, see
// health/container_exec_runner.h and docs/security-model.md). The process is waited for through a
// pidfd on the io_context, so a thousand running checks need no thread each; on timeout it is
// killed (SIGKILL). Thread-safety: Run from any thread; `done` runs on the io_context.
#pragma once

#include <asio/io_context.hpp>

#include "registry/health/probe.h"

namespace berth::registry::testing {

using health::ExecRunner;
using health::ProbeDone;

class LocalExecRunner final : public ExecRunner {
 public:
  explicit LocalExecRunner(asio::io_context& io) : io_(io) {}
  void Run(const Instance& instance, const std::vector<std::string>& argv,
           std::chrono::milliseconds timeout, ProbeDone done) override;

 private:
  asio::io_context& io_;
};

}  // namespace berth::registry::testing
