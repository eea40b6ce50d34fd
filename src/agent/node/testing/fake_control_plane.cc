#include "agent/node/testing/fake_control_plane.h"

namespace berth::agent::node::testing {

void FakeControlPlane::SetAssignments(int64_t revision,
                                      std::vector<orchestrator::Assignment> assignments) {
  std::lock_guard lock(mu_);
  list_ = AssignmentList{revision, std::move(assignments)};
}

void FakeControlPlane::Push(AssignmentEvent event) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  cv_.notify_all();
}

void FakeControlPlane::EndWatch(Error error) {
  {
    std::lock_guard lock(mu_);
    end_watch_ = std::move(error);
  }
  cv_.notify_all();
}

void FakeControlPlane::FailCalls(const std::string& method, Error error, int times) {
  std::lock_guard lock(mu_);
  failures_.insert_or_assign(method, Failure{std::move(error), times});
}

void FakeControlPlane::Heal(const std::string& method) {
  std::lock_guard lock(mu_);
  failures_.erase(method);
}

void FakeControlPlane::ExpireLease() {
  std::lock_guard lock(mu_);
  lease_ = 0;
}

std::vector<NodeRegistration> FakeControlPlane::registrations() const {
  std::lock_guard lock(mu_);
  return registrations_;
}

int FakeControlPlane::lists() const {
  std::lock_guard lock(mu_);
  return lists_;
}

std::vector<int64_t> FakeControlPlane::watches_from() const {
  std::lock_guard lock(mu_);
  return watches_from_;
}

std::map<std::string, StatusReport> FakeControlPlane::statuses() const {
  std::lock_guard lock(mu_);
  return statuses_;
}

std::map<std::string, RegistryEntry> FakeControlPlane::registry() const {
  std::lock_guard lock(mu_);
  return registry_;
}

std::vector<std::string> FakeControlPlane::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

std::optional<Error> FakeControlPlane::TakeFailureLocked(const std::string& method) {
  auto it = failures_.find(method);
  if (it == failures_.end()) return std::nullopt;
  Error e = it->second.error;
  if (it->second.times > 0 && --it->second.times == 0) failures_.erase(it);
  return e;
}

Result<int64_t> FakeControlPlane::Register(const NodeRegistration& registration) {
  std::lock_guard lock(mu_);
  calls_.push_back("Register " + registration.node);
  if (auto e = TakeFailureLocked("Register")) return std::unexpected(*e);
  registrations_.push_back(registration);
  lease_ = next_lease_++;
  return lease_;
}

Result<void> FakeControlPlane::Heartbeat(const std::string&, int64_t lease) {
  std::lock_guard lock(mu_);
  if (auto e = TakeFailureLocked("Heartbeat")) return std::unexpected(*e);
  if (lease_ == 0 || lease != lease_) return Fail(ErrorCode::kNotFound, "lease not found");
  return {};
}

Result<AssignmentList> FakeControlPlane::ListAssignments(const std::string& node) {
  std::lock_guard lock(mu_);
  calls_.push_back("ListAssignments " + node);
  ++lists_;
  if (auto e = TakeFailureLocked("ListAssignments")) return std::unexpected(*e);
  return list_;
}

Result<void> FakeControlPlane::WatchAssignments(
    const std::string& node, int64_t from_revision,
    const std::function<bool(AssignmentEvent&&)>& on_event) {
  std::unique_lock lock(mu_);
  calls_.push_back("WatchAssignments " + node);
  watches_from_.push_back(from_revision);
  if (auto e = TakeFailureLocked("WatchAssignments")) return std::unexpected(*e);
  while (true) {
    cv_.wait(lock, [&] { return shutdown_ || end_watch_ || !events_.empty(); });
    if (shutdown_) return {};
    if (!events_.empty()) {
      std::vector<AssignmentEvent> batch = std::move(events_);
      events_.clear();
      lock.unlock();
      for (auto& ev : batch) {
        if (!on_event(std::move(ev))) return {};
      }
      lock.lock();
      continue;
    }
    Error e = std::move(*end_watch_);
    end_watch_.reset();
    return std::unexpected(e);
  }
}

void FakeControlPlane::Shutdown() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

Result<void> FakeControlPlane::PutStatus(const orchestrator::Instance& instance,
                                         const StatusReport& report) {
  std::lock_guard lock(mu_);
  calls_.push_back("PutStatus " + instance.id + " " +
                   std::string(orchestrator::ToString(report.status.state)));
  if (auto e = TakeFailureLocked("PutStatus")) return std::unexpected(*e);
  if (lease_ == 0) return Fail(ErrorCode::kNotFound, "node not registered");
  statuses_[instance.id] = report;
  return {};
}

Result<void> FakeControlPlane::DeleteStatus(const orchestrator::Instance& instance) {
  std::lock_guard lock(mu_);
  calls_.push_back("DeleteStatus " + instance.id);
  if (auto e = TakeFailureLocked("DeleteStatus")) return std::unexpected(*e);
  if (statuses_.erase(instance.id) == 0) return Fail(ErrorCode::kNotFound, "no status");
  return {};
}

Result<void> FakeControlPlane::RegisterInstance(const RegistryEntry& entry) {
  std::lock_guard lock(mu_);
  calls_.push_back("RegisterInstance " + entry.id);
  if (auto e = TakeFailureLocked("RegisterInstance")) return std::unexpected(*e);
  registry_[entry.id] = entry;
  return {};
}

Result<void> FakeControlPlane::HeartbeatInstance(const std::string&, const std::string&,
                                                 const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto e = TakeFailureLocked("HeartbeatInstance")) return std::unexpected(*e);
  if (!registry_.count(id)) return Fail(ErrorCode::kNotFound, "no entry " + id);
  return {};
}

Result<void> FakeControlPlane::DeregisterInstance(const std::string&, const std::string&,
                                                  const std::string& id) {
  std::lock_guard lock(mu_);
  calls_.push_back("DeregisterInstance " + id);
  if (auto e = TakeFailureLocked("DeregisterInstance")) return std::unexpected(*e);
  registry_.erase(id);
  return {};
}

}  // namespace berth::agent::node::testing
