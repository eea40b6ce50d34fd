#include "registry/health/checker.h"

#include <asio/bind_executor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <unordered_map>

#include <fmt/core.h>

#include "core/log.h"

namespace berth::registry::health {

class HealthChecker::Core : public std::enable_shared_from_this<HealthChecker::Core> {
 public:
  Core(asio::io_context& io, Registry& registry, ExecRunner* exec, HealthCheckerOptions options)
      : strand_(asio::make_strand(io)),
        registry_(registry),
        options_(std::move(options)),
        sweep_timer_(strand_),
        node_timer_(strand_) {
    // The sink outlives nothing: the scheduler is stopped before the writer is joined.
    scheduler_ = std::make_unique<CheckScheduler>(
        io, exec,
        [this](const Instance& in, Health status, std::string output) {
          Write(in, status, std::move(output));
        },
        CheckSchedulerOptions{.start_spread = options_.start_spread},
        "exec check: this control plane has no node agent to run it in the container");
  }

  Result<void> Start() {
    auto list = registry_.ListInstances("");
    if (!list) return std::unexpected(list.error());
    for (auto& in : list->instances) Route(std::make_shared<const Instance>(std::move(in)));
    auto self = shared_from_this();
    // A weak reference: the store may keep a cancelled watch's handler until it closes,
    // which must not keep the checker (and its timers on the io_context) alive.
    std::weak_ptr<Core> weak = self;
    auto sub = registry_.Watch("", "", list->index + 1, [weak](WatchBatch&& batch) {
      if (auto core = weak.lock()) core->OnBatch(batch);
    });
    if (!sub) return std::unexpected(sub.error());
    sub_ = std::move(*sub);
    if (options_.sweep_interval.count() > 0) asio::post(strand_, [self] { self->ScheduleSweep(); });
    if (options_.node_alive && options_.node_check_interval.count() > 0) {
      asio::post(strand_, [self] { self->ScheduleNodeCheck(); });
    }
    return {};
  }

  void Stop() {
    if (sub_) {
      sub_->Cancel();
      sub_.reset();
    }
    scheduler_->Stop();
    auto self = shared_from_this();
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(strand_, [self, &done] {
      self->stopped_ = true;
      self->sweep_timer_.cancel();
      self->node_timer_.cancel();
      done.set_value();
    });
    if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      log::Warn("registry", "health checker stopped without a running io_context");
    }
    writer_.join();
  }

  HealthStats& stats() { return scheduler_->stats(); }
  int64_t node_checks() {
    std::lock_guard lock(remote_mu_);
    return static_cast<int64_t>(remote_.size());
  }

 private:
  // An instance whose exec check its node's agent runs.
  struct Remote {
    std::string ns, service, id, node;
    Health health = Health::kCritical;
  };

  // Watch callbacks of one watcher never run concurrently, and the initial list is routed
  // before the watch starts, so routing happens in revision order.
  void OnBatch(const WatchBatch& batch) {
    if (batch.compacted) {
      log::Error("registry", "health checker watch compacted at {}", batch.compact_revision);
    }
    for (const auto& e : batch.events) {
      if (e.type == WatchEvent::Type::kDelete) {
        std::string key = InstanceKey(e.ns, e.service, e.id);
        {
          std::lock_guard lock(remote_mu_);
          remote_.erase(key);
        }
        scheduler_->Remove(std::move(key));
      } else if (e.instance) {
        Route(e.instance);
      }
    }
  }

  // The routing decision: a node-local exec check is watched over, anything else scheduled.
  void Route(const std::shared_ptr<const Instance>& in) {
    std::string key = InstanceKey(in->ns, in->service, in->id);
    if (auto node = ExecCheckNode(*in)) {
      {
        std::lock_guard lock(remote_mu_);
        remote_[key] = Remote{in->ns, in->service, in->id, *node, in->health};
      }
      scheduler_->Remove(std::move(key));
      return;
    }
    {
      std::lock_guard lock(remote_mu_);
      remote_.erase(key);
    }
    scheduler_->Upsert(in);
  }

  // A transition from the scheduler (on its strand): written on the writer thread, unless the
  // check has moved to a node meanwhile.
  void Write(const Instance& in, Health status, std::string output) {
    auto self = shared_from_this();
    asio::post(writer_, [self, ns = in.ns, svc = in.service, id = in.id, status,
                         output = std::move(output)] {
      auto r = self->registry_.SetHealth(
          ns, svc, id, status, output, [](const Instance& stored) -> Result<void> {
            if (auto node = ExecCheckNode(stored)) {
              return Fail(ErrorCode::kFailedPrecondition,
                          fmt::format("its exec check runs on node {} now", *node));
            }
            return {};
          });
      if (r) {
        ++self->stats().transitions;
      } else if (r.error().code != ErrorCode::kNotFound &&
                 r.error().code != ErrorCode::kFailedPrecondition) {
        log::Warn("registry", "health of {}/{}/{}: {}", ns, svc, id, r.error().message);
      }
    });
  }

  void ScheduleSweep() {
    if (stopped_) return;
    sweep_timer_.expires_after(options_.sweep_interval);
    auto self = shared_from_this();
    sweep_timer_.async_wait([self](const asio::error_code& ec) {
      if (ec || self->stopped_) return;
      if (!self->sweep_running_.exchange(true)) {
        asio::post(self->writer_, [self] {
          if (auto r = self->registry_.Sweep(); !r) {
            log::Warn("registry", "sweep: {}", r.error().message);
          }
          self->sweep_running_ = false;
        });
      }
      self->ScheduleSweep();
    });
  }

  void ScheduleNodeCheck() {
    if (stopped_) return;
    node_timer_.expires_after(options_.node_check_interval);
    auto self = shared_from_this();
    node_timer_.async_wait([self](const asio::error_code& ec) {
      if (ec || self->stopped_) return;
      if (!self->node_check_running_.exchange(true)) {
        asio::post(self->writer_, [self] {
          self->CheckNodes();
          self->node_check_running_ = false;
        });
      }
      self->ScheduleNodeCheck();
    });
  }

  // On the writer thread: instances that are not critical yet and whose node is gone turn
  // critical. A critical one needs nothing; one whose node lives is its agent's to report.
  void CheckNodes() {
    std::vector<Remote> watch;
    {
      std::lock_guard lock(remote_mu_);
      for (const auto& [key, r] : remote_)
        if (r.health != Health::kCritical) watch.push_back(r);
    }
    std::map<std::string, bool> alive;  // by node, asked once per pass
    for (const auto& r : watch) {
      auto it = alive.find(r.node);
      if (it == alive.end()) {
        auto a = options_.node_alive(r.node);
        if (!a) {
          log::Warn("registry", "is node {} alive: {}", r.node, a.error().message);
          continue;  // unknown: leave the instance as it is
        }
        it = alive.emplace(r.node, *a).first;
      }
      if (it->second) continue;
      std::string output = fmt::format(
          "node {} is down: its agent's lease has ended, so nothing runs this exec check", r.node);
      auto w = registry_.SetHealth(r.ns, r.service, r.id, Health::kCritical, output,
                                   [node = r.node](const Instance& stored) -> Result<void> {
                                     auto n = ExecCheckNode(stored);
                                     if (!n || *n != node)
                                       return Fail(ErrorCode::kFailedPrecondition, "check moved");
                                     return {};
                                   });
      if (w) {
        ++stats().transitions;
      } else if (w.error().code != ErrorCode::kNotFound &&
                 w.error().code != ErrorCode::kFailedPrecondition) {
        log::Warn("registry", "health of {}/{}/{}: {}", r.ns, r.service, r.id, w.error().message);
      }
    }
  }

  asio::strand<asio::io_context::executor_type> strand_;  // the timers
  Registry& registry_;
  HealthCheckerOptions options_;
  asio::thread_pool writer_{1};  // store writes, in order
  std::unique_ptr<CheckScheduler> scheduler_;
  std::unique_ptr<Subscription> sub_;
  asio::steady_timer sweep_timer_;
  asio::steady_timer node_timer_;
  std::atomic<bool> sweep_running_{false};
  std::atomic<bool> node_check_running_{false};
  bool stopped_ = false;  // strand only
  std::mutex remote_mu_;
  std::unordered_map<std::string, Remote> remote_;  // by instance key; guarded by remote_mu_
};

HealthChecker::HealthChecker(asio::io_context& io, Registry& registry, ExecRunner* exec,
                             HealthCheckerOptions options)
    : core_(std::make_shared<Core>(io, registry, exec, std::move(options))) {}

HealthChecker::~HealthChecker() = default;

Result<void> HealthChecker::Start() { return core_->Start(); }
void HealthChecker::Stop() { core_->Stop(); }
const HealthStats& HealthChecker::stats() const { return core_->stats(); }
int64_t HealthChecker::node_checks() const { return core_->node_checks(); }

}  // namespace berth::registry::health
