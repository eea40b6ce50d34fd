#include "agent/node/testing/fake_containers.h"

#include <fmt/core.h>

namespace berth::agent::node::testing {

void FakeContainers::FailRuns(const std::string& image, Error error) {
  std::lock_guard lock(mu_);
  failing_images_.insert_or_assign(image, std::move(error));
}

void FakeContainers::SetExec(ExecHandler handler) {
  std::lock_guard lock(mu_);
  exec_ = std::move(handler);
}

void FakeContainers::OnStop(std::function<void(const std::string&)> hook) {
  std::lock_guard lock(mu_);
  on_stop_ = std::move(hook);
}

void FakeContainers::AddRunning(const std::string& name, const std::string& image) {
  std::lock_guard lock(mu_);
  StartLocked(name, image);
}

void FakeContainers::Exit(const std::string& name, int code, bool restarting) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(name);
  if (it == containers_.end()) return;
  ContainerInfo& c = it->second;
  c.exit_code = code;
  c.pid = 0;
  if (restarting) {
    c.status = ContainerStatus::kRestarting;
    ++c.restart_count;
    c.next_restart_in_ms = 1000;
  } else {
    c.status = ContainerStatus::kExited;
  }
}

std::vector<RunSpec> FakeContainers::runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

std::optional<ContainerInfo> FakeContainers::Find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = containers_.find(name);
  if (it == containers_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> FakeContainers::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

int FakeContainers::execs() const {
  std::lock_guard lock(mu_);
  return execs_;
}

ContainerInfo FakeContainers::StartLocked(const std::string& name, const std::string& image) {
  const int64_t n = ++started_;
  ContainerInfo c;
  c.id = fmt::format("{:012x}{}", n, name);
  c.name = name;
  c.image = image;
  c.status = ContainerStatus::kRunning;
  c.pid = static_cast<int>(5'000'000 + n);  // above any pid_max: no /proc entry
  c.created_ms = n;
  c.started_ms = n;
  c.ip = fmt::format("10.88.0.{}", n % 250 + 2);
  containers_[name] = c;
  return c;
}

Result<ContainerInfo> FakeContainers::Run(const RunSpec& spec) {
  std::lock_guard lock(mu_);
  calls_.push_back("Run " + spec.name);
  runs_.push_back(spec);
  if (auto it = failing_images_.find(spec.image); it != failing_images_.end())
    return std::unexpected(it->second);
  if (containers_.count(spec.name))
    return Fail(ErrorCode::kAlreadyExists, "container " + spec.name + " exists");
  return StartLocked(spec.name, spec.image);
}

Result<ContainerInfo> FakeContainers::Inspect(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(std::string(name));
  if (it == containers_.end())
    return Fail(ErrorCode::kNotFound, fmt::format("no container {}", name));
  return it->second;
}

Result<ContainerInfo> FakeContainers::Stop(std::string_view name, std::chrono::milliseconds) {
  std::function<void(const std::string&)> hook;
  {
    std::lock_guard lock(mu_);
    hook = on_stop_;
  }
  if (hook) hook(std::string(name));
  std::lock_guard lock(mu_);
  calls_.push_back("Stop " + std::string(name));
  auto it = containers_.find(std::string(name));
  if (it == containers_.end())
    return Fail(ErrorCode::kNotFound, fmt::format("no container {}", name));
  it->second.status = ContainerStatus::kExited;
  it->second.exit_signal = 15;
  it->second.pid = 0;
  return it->second;
}

Result<void> FakeContainers::Remove(std::string_view name, bool) {
  std::lock_guard lock(mu_);
  calls_.push_back("Remove " + std::string(name));
  if (containers_.erase(std::string(name)) == 0)
    return Fail(ErrorCode::kNotFound, fmt::format("no container {}", name));
  return {};
}

Result<runtime::ExecResult> FakeContainers::Exec(std::string_view name,
                                                 const std::vector<std::string>& args,
                                                 const runtime::ExecOptions& options) {
  ExecHandler handler;
  {
    std::lock_guard lock(mu_);
    calls_.push_back("Exec " + std::string(name));
    ++execs_;
    auto it = containers_.find(std::string(name));
    if (it == containers_.end() || it->second.status != ContainerStatus::kRunning)
      return Fail(ErrorCode::kFailedPrecondition, fmt::format("container {} is not running", name));
    handler = exec_;
  }
  if (!handler) return runtime::ExecResult{.exit_code = 0};
  return handler(std::string(name), args, options);
}

}  // namespace berth::agent::node::testing
