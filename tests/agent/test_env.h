// Fixture pieces for the agent's integration tests: a scratch data directory, an image
// store holding a test image (busybox-static plus the static `probe` program), runc with
// a private state root, a CNI network on a private bridge and /24 of 100.64.0.0/16, and
// an Agent over all of them. Everything is removed in the destructor, containers first,
// even when a test failed half-way.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/image/image_store.h"
#include "agent/network/cni_network.h"
#include "agent/runtime/runtime.h"
#include "core/clock.h"

namespace berth::agent::testing {

class AgentEnv {
 public:
  // `clock`: the agent's clock (a SystemClock when null). `thread`: run the supervision
  // thread (tests with a ManualClock call Supervise() themselves). `runtime`: runc or crun.
  explicit AgentEnv(Clock* clock = nullptr, bool thread = true, AgentOptions extra = {},
                    const std::string& runtime = "runc");
  ~AgentEnv();

  Agent& agent() { return *agent_; }
  image::ImageStore& images() { return *images_; }
  runtime::Runtime& runtime() { return *runtime_; }
  network::CniNetwork& network() { return *network_; }
  const std::string& dir() const { return dir_; }
  AgentOptions options() const { return options_; }

  // Destroys the Agent object (containers keep running) and makes a new one over the
  // same data directory.
  void RestartAgent();
  void DestroyAgent() { agent_.reset(); }

  // A RunSpec for the test image running `args`, network none unless changed.
  RunSpec Spec(std::vector<std::string> args) const;
  // Polls (calling Supervise when there is no thread) until the container has exited.
  bool WaitExited(const std::string& name, int seconds = 60);
  // Polls until a log line contains `text`.
  bool WaitForLog(const std::string& name, const std::string& text, int seconds = 60);
  std::string LogText(const std::string& name);

  static std::string ProbePath();
  static std::string ShimPath();
  static constexpr const char* kImage = "berth-test:latest";

 private:
  Clock* clock_;
  std::unique_ptr<SystemClock> own_clock_;
  bool thread_;
  std::string dir_;
  std::string bridge_;
  AgentOptions options_;
  std::unique_ptr<image::ImageStore> images_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<network::CniNetwork> network_;
  std::unique_ptr<Agent> agent_;
};

}  // namespace berth::agent::testing
