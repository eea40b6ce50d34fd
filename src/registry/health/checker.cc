#include "registry/health/checker.h"

#include <asio/bind_executor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <functional>
#include <future>
#include <unordered_map>

#include <fmt/core.h>

#include "core/log.h"

namespace berth::registry::health {

namespace {
int Class(Health h) { return h == Health::kPassing ? 0 : 1; }
}  // namespace

class HealthChecker::Core : public std::enable_shared_from_this<HealthChecker::Core> {
 public:
  Core(asio::io_context& io, Registry& registry, ExecRunner* exec, HealthCheckerOptions options)
      : io_(io),
        strand_(asio::make_strand(io)),
        registry_(registry),
        exec_(exec),
        options_(options),
        sweep_timer_(strand_) {}

  struct Check {
    explicit Check(asio::strand<asio::io_context::executor_type>& s) : timer(s) {}
    std::string key;
    Instance instance;
    asio::steady_timer timer;
    Health status = Health::kCritical;
    bool has_result = false;
    int streak_class = 0;
    int streak = 0;
    bool removed = false;
  };

  Result<void> Start() {
    auto list = registry_.ListInstances("");
    if (!list) return std::unexpected(list.error());
    auto self = shared_from_this();
    asio::post(strand_, [self, instances = std::move(list->instances)]() mutable {
      for (auto& in : instances) self->Upsert(std::make_shared<const Instance>(std::move(in)));
    });
    auto sub = registry_.Watch("", "", list->index + 1, [self](WatchBatch&& batch) {
      asio::post(self->strand_, [self, batch = std::move(batch)]() { self->OnBatch(batch); });
    });
    if (!sub) return std::unexpected(sub.error());
    sub_ = std::move(*sub);
    if (options_.sweep_interval.count() > 0) asio::post(strand_, [self] { self->ScheduleSweep(); });
    return {};
  }

  void Stop() {
    if (sub_) {
      sub_->Cancel();
      sub_.reset();
    }
    auto self = shared_from_this();
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(strand_, [self, &done] {
      self->StopOnStrand();
      done.set_value();
    });
    if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      // The io_context is not running: nothing runs concurrently with us.
      log::Warn("registry", "health checker stopped without a running io_context");
    }
    writer_.join();
  }

  HealthStats stats_;

 private:
  void StopOnStrand() {
    stopped_ = true;
    sweep_timer_.cancel();
    for (auto& [k, c] : checks_) {
      c->removed = true;
      c->timer.cancel();
    }
    checks_.clear();
    stats_.checks = 0;
  }

  void OnBatch(const WatchBatch& batch) {
    if (stopped_) return;
    if (batch.compacted) {
      log::Error("registry", "health checker watch compacted at {}", batch.compact_revision);
    }
    for (const auto& e : batch.events) {
      std::string key = InstanceKey(e.ns, e.service, e.id);
      if (e.type == WatchEvent::Type::kDelete) {
        Remove(key);
      } else if (e.instance) {
        Upsert(e.instance);
      }
    }
  }

  void Remove(const std::string& key) {
    auto it = checks_.find(key);
    if (it == checks_.end()) return;
    it->second->removed = true;
    it->second->timer.cancel();
    checks_.erase(it);
    --stats_.checks;
  }

  void Upsert(const std::shared_ptr<const Instance>& in) {
    if (stopped_) return;
    std::string key = InstanceKey(in->ns, in->service, in->id);
    if (!in->check) {
      Remove(key);
      return;
    }
    auto it = checks_.find(key);
    if (it != checks_.end() && it->second->instance.check == in->check) {
      Check& c = *it->second;
      c.instance = *in;
      if (in->health != c.status) {  // someone else wrote (registration, self-preservation)
        c.status = in->health;
        c.streak = 0;
      }
      return;
    }
    if (it != checks_.end()) Remove(key);
    auto c = std::make_shared<Check>(strand_);
    c->key = key;
    c->instance = *in;
    c->status = in->health;
    // A status some checker already wrote (before a restart or on a leader that has gone) is
    // a result: rise and fall apply from the first probe, so a new leader does not flap it.
    c->has_result = in->health_output != kNoCheckResultYet;
    checks_[key] = c;
    ++stats_.checks;
    auto interval = in->check->interval;
    auto spread = std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(interval.count()) * options_.start_spread));
    auto delay = spread.count() > 0 ? std::chrono::milliseconds(std::hash<std::string>{}(key) %
                                                                static_cast<size_t>(spread.count()))
                                    : std::chrono::milliseconds(0);
    Schedule(c, delay);
  }

  void Schedule(const std::shared_ptr<Check>& c, std::chrono::steady_clock::duration delay) {
    c->timer.expires_after(delay);
    auto self = shared_from_this();
    c->timer.async_wait([self, c](const asio::error_code& ec) {
      if (ec || c->removed) return;
      self->RunProbe(c);
    });
  }

  void RunProbe(const std::shared_ptr<Check>& c) {
    auto start = std::chrono::steady_clock::now();
    ++stats_.probes;
    auto self = shared_from_this();
    ProbeDone done = [self, c, start](ProbeResult r) {
      asio::post(self->strand_, [self, c, start, r = std::move(r)]() mutable {
        self->OnResult(c, std::move(r), start);
      });
    };
    const CheckSpec& spec = *c->instance.check;
    switch (spec.kind) {
      case CheckSpec::Kind::kHttp:
        RunHttpProbe(io_, spec.http, spec.timeout, std::move(done));
        break;
      case CheckSpec::Kind::kTcp:
        RunTcpProbe(io_, spec.tcp, spec.timeout, std::move(done));
        break;
      case CheckSpec::Kind::kExec:
        if (exec_) {
          exec_->Run(c->instance, spec.command, spec.timeout, std::move(done));
        } else {
          asio::post(io_, [done = std::move(done)] {
            done({Health::kCritical,
                  "exec check: this control plane has no node agent to run it in the container"});
          });
        }
        break;
    }
  }

  void OnResult(const std::shared_ptr<Check>& c, ProbeResult r,
                std::chrono::steady_clock::time_point start) {
    if (c->removed || stopped_) return;
    if (r.status != Health::kPassing) ++stats_.probes_failed;
    const CheckSpec& spec = *c->instance.check;
    if (!c->has_result) {
      c->has_result = true;
      c->streak = 0;
      Transition(*c, r.status, r.output + " (first result)");  // also replaces "no result yet"
    } else if (r.status == c->status) {
      c->streak = 0;
    } else if (Class(r.status) == Class(c->status)) {
      // warning <-> critical: both failing, no flap to guard against.
      c->streak = 0;
      Transition(*c, r.status, r.output);
    } else {
      if (c->streak > 0 && c->streak_class == Class(r.status)) {
        ++c->streak;
      } else {
        c->streak_class = Class(r.status);
        c->streak = 1;
      }
      int threshold = r.status == Health::kPassing ? spec.rise : spec.fall;
      if (c->streak >= threshold) {
        Transition(*c, r.status, fmt::format("{} ({} consecutive)", r.output, c->streak));
        c->streak = 0;
      }
    }
    auto next = start + spec.interval;
    auto now = std::chrono::steady_clock::now();
    Schedule(c, next > now ? next - now : std::chrono::steady_clock::duration::zero());
  }

  void Transition(Check& c, Health status, std::string output) {
    c.status = status;
    auto self = shared_from_this();
    asio::post(writer_, [self, ns = c.instance.ns, svc = c.instance.service, id = c.instance.id,
                         status, output = std::move(output)] {
      auto r = self->registry_.SetHealth(ns, svc, id, status, output);
      if (r) {
        ++self->stats_.transitions;
      } else if (r.error().code != ErrorCode::kNotFound) {
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

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  Registry& registry_;
  ExecRunner* exec_;
  HealthCheckerOptions options_;
  asio::thread_pool writer_{1};  // store writes, in order
  std::unique_ptr<Subscription> sub_;
  asio::steady_timer sweep_timer_;
  std::atomic<bool> sweep_running_{false};
  bool stopped_ = false;                                            // strand only
  std::unordered_map<std::string, std::shared_ptr<Check>> checks_;  // strand only
};

HealthChecker::HealthChecker(asio::io_context& io, Registry& registry, ExecRunner* exec,
                             HealthCheckerOptions options)
    : core_(std::make_shared<Core>(io, registry, exec, options)) {}

HealthChecker::~HealthChecker() = default;

Result<void> HealthChecker::Start() { return core_->Start(); }
void HealthChecker::Stop() { core_->Stop(); }
const HealthStats& HealthChecker::stats() const { return core_->stats_; }

}  // namespace berth::registry::health
