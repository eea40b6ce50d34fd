// FakeContainers: in-memory Containers (containers.h) for NodeAgent's and NodeChecks' unit
// tests. Run "starts" a container at once (running, with a pid, an address and a start
// time of its own); tests make containers exit, fail starts of an image, and decide what an
// exec does (by default it exits 0). Every call is logged in order.
// Thread-safety: every method may be called from any thread; an exec handler runs outside
// the fake's lock.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/node/containers.h"

namespace berth::agent::node::testing {

class FakeContainers final : public Containers {
 public:
  using ExecHandler = std::function<Result<runtime::ExecResult>(
      const std::string& name, const std::vector<std::string>& args,
      const runtime::ExecOptions& options)>;

  // ---- the host's side (tests)
  // Runs of `image` fail with `error` from now on.
  void FailRuns(const std::string& image, Error error);
  // What Exec does from now on.
  void SetExec(ExecHandler handler);
  // Called with the container's name at each Stop, before it stops (outside the lock).
  void OnStop(std::function<void(const std::string&)> hook);
  // A container that runs already (adopted from an earlier agent).
  void AddRunning(const std::string& name, const std::string& image);
  // The container's process exits with `code` (or is restarted by its policy when
  // `restarting`).
  void Exit(const std::string& name, int code, bool restarting = false);

  // ---- what the agent did (tests)
  std::vector<RunSpec> runs() const;
  // The container by name, if it exists.
  std::optional<ContainerInfo> Find(const std::string& name) const;
  // Every call in order: "Run api-1", "Inspect api-1", "Stop api-1", "Remove api-1",
  // "Exec api-1"; Inspect is left out (the agent follows its containers every tick).
  std::vector<std::string> calls() const;
  int execs() const;  // Exec calls begun

  // ---- Containers
  Result<ContainerInfo> Run(const RunSpec& spec) override;
  Result<ContainerInfo> Inspect(std::string_view name) override;
  Result<ContainerInfo> Stop(std::string_view name, std::chrono::milliseconds grace) override;
  Result<void> Remove(std::string_view name, bool force) override;
  Result<runtime::ExecResult> Exec(std::string_view name, const std::vector<std::string>& args,
                                   const runtime::ExecOptions& options) override;

 private:
  ContainerInfo StartLocked(const std::string& name, const std::string& image);

  mutable std::mutex mu_;
  std::map<std::string, ContainerInfo> containers_;  // by name; guarded by mu_
  std::map<std::string, Error> failing_images_;      // guarded by mu_
  ExecHandler exec_;                                 // guarded by mu_
  std::function<void(const std::string&)> on_stop_;  // guarded by mu_
  std::vector<RunSpec> runs_;                        // guarded by mu_
  std::vector<std::string> calls_;                   // guarded by mu_
  int execs_ = 0;                                    // guarded by mu_
  int64_t started_ = 0;                              // guarded by mu_: containers started
};

}  // namespace berth::agent::node::testing
