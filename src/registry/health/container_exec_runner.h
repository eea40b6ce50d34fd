// ExecRunner that runs exec checks inside the instance's container, through a ContainerExec
// port that the registry defines and berthd implements with the node agent
// (agent::Agent::Exec) when an agent runs in the same process.
//
// An instance names its container in its metadata under kContainerMetadataKey
// ("berth.container": a container name or id known to the agent). An instance without it is
// handed to `fallback` (LocalExecRunner in tests) or, with no fallback, reported critical
// with a message saying what is missing.
//
// ContainerExec::Exec blocks until the command ends, so it runs on this runner's own few
// threads, never on the checker's io_context. A check whose command outlives its timeout
// is reported critical ("timeout") at the timeout; the command itself keeps its thread until
// it ends (the runtime has no way to stop one exec'd process). When every thread is busy a
// new exec check is reported critical ("busy") at once rather than queued without bound.
// Thread-safety: Run from any thread; `done` runs on the io_context. Destroy only after the
// checker has stopped; the destructor waits for running commands to end.
#pragma once

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "registry/health/probe.h"

namespace berth::registry::health {

inline constexpr std::string_view kContainerMetadataKey = "berth.container";

// Runs a command inside a container and waits for it. Implemented outside the registry
// (berthd wires agent::Agent::Exec); fakes in tests.
class ContainerExec {
 public:
  struct Outcome {
    int exit_code = -1;
    std::string output;  // stdout then stderr, possibly cut
  };
  virtual ~ContainerExec() = default;
  // kNotFound / kFailedPrecondition when the container is unknown or not running.
  virtual Result<Outcome> Exec(const std::string& container,
                               const std::vector<std::string>& argv) = 0;
};

struct ContainerExecRunnerOptions {
  int threads = 4;                 // commands running at once
  ExecRunner* fallback = nullptr;  // for instances that name no container
};

class ContainerExecRunner final : public ExecRunner {
 public:
  ContainerExecRunner(asio::io_context& io, ContainerExec& exec,
                      ContainerExecRunnerOptions options = {});
  ~ContainerExecRunner() override;
  ContainerExecRunner(const ContainerExecRunner&) = delete;
  ContainerExecRunner& operator=(const ContainerExecRunner&) = delete;

  void Run(const Instance& instance, const std::vector<std::string>& argv,
           std::chrono::milliseconds timeout, ProbeDone done) override;

 private:
  asio::io_context& io_;
  ContainerExec& exec_;
  const ContainerExecRunnerOptions options_;
  std::atomic<int> running_{0};
  asio::thread_pool pool_;
};

// The verdict for an exit code: 0 passing, 1 warning, anything else critical.
Health ExecVerdict(int exit_code);

}  // namespace berth::registry::health
