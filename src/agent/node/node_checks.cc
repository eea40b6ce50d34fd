#include "agent/node/node_checks.h"

#include <fmt/core.h>

#include <asio/executor_work_guard.hpp>

#include "core/log.h"

namespace berth::agent::node {

using std::chrono::milliseconds;

namespace {
constexpr auto kRetry = std::chrono::seconds(1);
}  // namespace

// The registry's exec runner port over this node's containers (as berthd dev wires its own).
class NodeChecks::ContainersExec final : public registry::health::ContainerExec {
 public:
  explicit ContainersExec(Containers& containers) : containers_(containers) {}
  Result<Outcome> Exec(const std::string& container, const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout, std::stop_token stop) override {
    auto r = containers_.Exec(container, argv, {.timeout = timeout, .stop = std::move(stop)});
    if (!r) return std::unexpected(r.error());
    return Outcome{r->exit_code, r->out + r->err, r->timed_out};
  }

 private:
  Containers& containers_;
};

NodeChecks::NodeChecks(NodeChecksOptions options, Containers& containers)
    : options_(std::move(options)),
      client_(options_.server, options_.token, options_.tls),
      exec_(std::make_unique<ContainersExec>(containers)),
      io_(std::make_unique<asio::io_context>()) {}

Result<std::unique_ptr<NodeChecks>> NodeChecks::Start(NodeChecksOptions options,
                                                      Containers& containers) {
  std::unique_ptr<NodeChecks> n(new NodeChecks(std::move(options), containers));
  n->runner_ = std::make_unique<registry::health::ContainerExecRunner>(
      *n->io_, *n->exec_,
      registry::health::ContainerExecRunnerOptions{.threads =
                                                       std::max(1, n->options_.exec_threads)});
  n->scheduler_ = std::make_unique<registry::health::CheckScheduler>(
      *n->io_, n->runner_.get(),
      [raw = n.get()](const registry::Instance& in, registry::Health status, std::string output) {
        {
          std::lock_guard lock(raw->mu_);
          raw->pending_[registry::InstanceKey(in.ns, in.service, in.id)] =
              Pending{in.ns, in.service, in.id, status, std::move(output)};
        }
        raw->cv_.notify_all();
      });
  n->io_thread_ = std::thread([io = n->io_.get()] {
    auto guard = asio::make_work_guard(*io);
    io->run();
  });
  n->sync_thread_ = std::thread([raw = n.get()] { raw->SyncLoop(); });
  n->report_thread_ = std::thread([raw = n.get()] { raw->ReportLoop(); });
  return n;
}

NodeChecks::~NodeChecks() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  client_.Shutdown();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (report_thread_.joinable()) report_thread_.join();
  if (scheduler_) scheduler_->Stop();  // no transition after this
  runner_.reset();                     // kills running check commands
  io_->stop();
  if (io_thread_.joinable()) io_thread_.join();
}

int64_t NodeChecks::checks() { return scheduler_->stats().checks.load(); }

bool NodeChecks::Stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool NodeChecks::Sleep(milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return stopping_; });
  return !stopping_;
}

void NodeChecks::Apply(CheckEvent&& ev) {
  if (ev.type == CheckEvent::Type::kPut) {
    known_.insert(ev.key);
    scheduler_->Upsert(std::make_shared<const registry::Instance>(std::move(*ev.instance)));
  } else if (ev.type == CheckEvent::Type::kDelete && known_.erase(ev.key)) {
    scheduler_->Remove(ev.key);
  }
}

void NodeChecks::SyncLoop() {
  int64_t from = 0;  // 0: list first
  int failures = 0;
  while (!Stopping()) {
    if (from == 0) {
      auto list = client_.ListChecks(options_.node);
      if (!list) {
        if (failures++ % 30 == 1) {
          log::Warn("node", "node {}: list exec checks: {} (retrying)", options_.node,
                    list.error().message);
        }
        if (!Sleep(kRetry)) return;
        continue;
      }
      failures = 0;
      std::set<std::string> listed;
      for (auto& in : list->instances) {
        std::string key = registry::InstanceKey(in.ns, in.service, in.id);
        listed.insert(key);
        Apply(CheckEvent{.type = CheckEvent::Type::kPut, .key = key, .instance = std::move(in)});
      }
      for (const auto& key : std::set<std::string>(known_)) {
        if (!listed.count(key)) Apply(CheckEvent{.type = CheckEvent::Type::kDelete, .key = key});
      }
      if (!listed.empty()) {
        log::Info("node", "node {}: {} exec check(s) to run at revision {}", options_.node,
                  listed.size(), list->revision);
      }
      from = list->revision + 1;
    }
    // Resume from the last revision seen: applying an event twice changes nothing.
    int64_t last = from;
    auto r = client_.WatchChecks(options_.node, from, [&](CheckEvent&& ev) {
      if (Stopping()) return false;
      if (ev.type == CheckEvent::Type::kProgress) {
        // Every change up to its revision has been sent: the server filters out the changes
        // that are not this node's, so this is how a quiet stream's resume point moves on.
        if (ev.revision > 0) last = std::max(last, ev.revision + 1);
        return true;
      }
      last = std::max(last, ev.revision);
      Apply(std::move(ev));
      return true;
    });
    from = last;
    if (Stopping()) return;
    if (!r && r.error().code == ErrorCode::kCompacted) {
      log::Warn("node", "node {}: exec check watch compacted; listing again", options_.node);
      from = 0;
      continue;
    }
    if (!r && failures++ % 30 == 0) {
      log::Warn("node", "node {}: exec check watch: {} (resuming from revision {})", options_.node,
                r.error().message, from);
    }
    if (!Sleep(r ? milliseconds(200) : milliseconds(kRetry))) return;
  }
}

void NodeChecks::ReportLoop() {
  while (true) {
    std::map<std::string, Pending> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      batch.swap(pending_);
    }
    bool retry = false;
    for (auto& [key, p] : batch) {
      auto r = client_.ReportHealth(p.ns, p.service, p.id, p.status, p.output);
      if (r) {
        ++reports_;
        continue;
      }
      const ErrorCode code = r.error().code;
      if (code == ErrorCode::kNotFound || code == ErrorCode::kPermissionDenied ||
          code == ErrorCode::kFailedPrecondition || code == ErrorCode::kInvalidArgument) {
        // Gone, or not this node's check any more: the watch takes it away.
        log::Warn("node", "node {}: health of {}: {}", options_.node, key, r.error().message);
        continue;
      }
      log::Warn("node", "node {}: report health of {}: {} (retrying)", options_.node, key,
                r.error().message);
      std::lock_guard lock(mu_);
      pending_.try_emplace(key, std::move(p));  // a newer result wins
      retry = true;
    }
    if (retry && !Sleep(kRetry)) return;
  }
}

}  // namespace berth::agent::node
