#include "orchestrator/controller.h"

#include "core/log.h"
#include "core/try.h"
#include "orchestrator/codec.h"

namespace berth::orchestrator {

Controller::Controller(store::Store& store, Clock& clock, Random& random, ControllerOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      reconciler_(store, clock, random, options_.reconciler),
      apps_(store, clock),
      rollouts_(store, clock, apps_, options_.crash_loop_restarts),
      canaries_(store),
      placement_(store, clock, apps_),
      routes_(store),
      autoscale_(store, clock, apps_),
      election_(store, clock,
                {.key = std::string(kLeaderKey),
                 .id = options_.id,
                 .ttl_seconds = options_.lease_ttl_seconds}) {}

Controller::~Controller() { Stop(); }

Result<void> Controller::Start() {
  auto watch = [this](store::WatchResponse&& r) {
    std::lock_guard lock(mu_);
    if (r.canceled || r.compacted) {
      rewatch_ = true;
    } else {
      dirty_ = true;
    }
    cv_.notify_all();
  };
  for (auto prefix : {kAppsPrefix, kNodesPrefix}) {
    auto w = store_.Watch(prefix, {.prefix = true}, watch);
    if (!w) return std::unexpected(Wrap(w.error(), "controller: watch"));
    (prefix == kAppsPrefix ? watcher_ : nodes_watcher_) = std::move(*w);
  }
  // The first step before returning, so a single server leads (and the store has settled)
  // before its API serves.
  if (auto r = Tick(); !r) {
    log::Warn("orchestrator", "controller {}: {}", options_.id, r.error().message);
  }
  thread_ = std::thread([this] { Loop(); });
  return {};
}

void Controller::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (watcher_) watcher_->Cancel();
  if (nodes_watcher_) nodes_watcher_->Cancel();
  watcher_.reset();
  nodes_watcher_.reset();
  if (leading_) {
    election_.Resign();
    StepDown("stopped");
  }
}

void Controller::Loop() {
  while (true) {
    bool rewatch = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.interval, [&] { return dirty_ || stop_; });
      if (stop_) return;
      if (dirty_) {
        // Debounce: a burst of writes (an apply, a node's reports) makes one pass.
        cv_.wait_for(lock, options_.debounce, [&] { return stop_; });
        if (stop_) return;
      }
      dirty_ = false;
      rewatch = std::exchange(rewatch_, false);
    }
    if (rewatch) {
      for (auto prefix : {kAppsPrefix, kNodesPrefix}) {
        auto w = store_.Watch(prefix, {.prefix = true}, [this](store::WatchResponse&& r) {
          std::lock_guard lock(mu_);
          (r.canceled || r.compacted ? rewatch_ : dirty_) = true;
          cv_.notify_all();
        });
        if (!w) {
          log::Warn("orchestrator", "controller: watch {}: {}", prefix, w.error().message);
          std::lock_guard lock(mu_);
          rewatch_ = true;
          continue;
        }
        (prefix == kAppsPrefix ? watcher_ : nodes_watcher_) = std::move(*w);
      }
    }
    auto r = Tick();
    if (!r) log::Warn("orchestrator", "controller {}: {}", options_.id, r.error().message);
  }
}

void Controller::OnElected() {
  leading_ = true;
  reconciler_.set_guard(election_.Guard());
  log::Info("orchestrator", "controller {} leads (lease {})", options_.id, election_.lease());
  if (auto l = LoadRecords(); !l) {
    log::Warn("orchestrator", "controller: load records: {}", l.error().message);
  }
}

void Controller::StepDown(std::string_view why) {
  if (!leading_) return;
  log::Info("orchestrator", "controller {} steps down: {}", options_.id, why);
  leading_ = false;
  election_.StepDown();
  reconciler_.set_guard(std::nullopt);
  rollouts_.Clear();
  placement_.Clear();
  autoscale_.Clear();
}

Result<void> Controller::LoadRecords() {
  autoscale_.Clear();
  BERTH_TRY(rollouts_.Load());
  return placement_.Load();
}

Result<TickResult> Controller::Tick() {
  TickResult out;
  auto lead = election_.Tick();
  if (!lead) return std::unexpected(Wrap(lead.error(), "controller"));
  if (!*lead) {
    StepDown(election_.last_loss());
    return out;
  }
  if (!leading_) OnElected();
  auto planned = reconciler_.Plan();
  if (!planned) return std::unexpected(planned.error());
  const PassResult& pass = planned->result;
  for (const auto& s : pass.skipped) log::Warn("orchestrator", "skipped {}", s);
  // The bookkeeping before the plan is written: a route moves off instances (an aborted
  // canary's) before the plan's stops reach their agents.
  Bookkeep(pass, out);
  if (auto c = reconciler_.Commit(*planned); !c) {
    if (c.error().code == ErrorCode::kFailedPrecondition) {
      StepDown(c.error().message);
      return TickResult{};
    }
    return std::unexpected(c.error());
  }
  out.leading = leading_;
  out.pass = std::move(planned->result);
  return out;
}

void Controller::Bookkeep(const PassResult& pass, TickResult& out) {
  const store::Compare guard = election_.Guard();
  out.rolled_back = rollouts_.Track(pass, guard);
  CanaryChanges canaries;
  canaries.collected = canaries_.Collect(pass, rollouts_.Complete(), guard);
  placement_.Write(pass, guard);
  // Canaries this pass aborted (RolloutTracker) route to stable at once.
  canaries.aborted.insert(out.rolled_back.begin(), out.rolled_back.end());
  routes_.Sync(pass, canaries, guard);
  out.scaled = autoscale_.Run(pass, guard);
}

}  // namespace berth::orchestrator
