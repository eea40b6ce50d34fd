// ExecRunner that runs exec checks inside the instance's container, through a ContainerExec
// port that the registry defines and berthd implements with the node agent in the same
// process (agent::Agent::Exec). It is the only exec runner berthd has: exec checks never run
// as processes of the control plane (docs/security-model.md).
//
// An instance names its container in its metadata under kContainerMetadataKey
// ("berth.container": a container name or id known to the agent); registration refuses an
// exec check without it, and a stored one without it is reported critical.
//
// ContainerExec::Exec blocks until the command ends, so it runs on this runner's own few
// threads, never on the checker's io_context. The command is killed at its timeout (the
// check is reported critical "timeout"), so a hung command holds its thread for about the
// timeout. The destructor asks every running command to stop (they are killed) and waits
// for them: shutdown is bounded by about a second, not by the commands. When every thread is
// busy a new exec check is reported critical ("busy") at once rather than queued.
// Thread-safety: Run from any thread; `done` runs on the io_context. Destroy only after the
// checker has stopped.
#pragma once

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "core/error.h"
#include "registry/health/probe.h"

namespace berth::registry::health {

// Runs a command inside a container and waits for it. Implemented outside the registry
// (berthd wires agent::Agent::Exec); fakes in tests.
class ContainerExec {
 public:
  struct Outcome {
    int exit_code = -1;
    std::string output;      // stdout then stderr, possibly cut
    bool timed_out = false;  // killed at the timeout
  };
  virtual ~ContainerExec() = default;
  // Runs `argv` in `container`; past `timeout`, or once `stop` is requested, the command is
  // killed and Exec returns soon after. kNotFound / kFailedPrecondition when the container
  // is unknown or not running.
  virtual Result<Outcome> Exec(const std::string& container, const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout, std::stop_token stop) = 0;
};

struct ContainerExecRunnerOptions {
  int threads = 4;  // commands running at once
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
  std::stop_source stop_;
  asio::thread_pool pool_;
};

// The verdict for an exit code: 0 passing, 1 warning, anything else critical.
Health ExecVerdict(int exit_code);

}  // namespace berth::registry::health
