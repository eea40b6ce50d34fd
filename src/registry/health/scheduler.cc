#include "registry/health/scheduler.h"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <future>
#include <unordered_map>

#include <fmt/core.h>

#include "core/log.h"

namespace berth::registry::health {

namespace {
int Class(Health h) { return h == Health::kPassing ? 0 : 1; }
}  // namespace

class CheckScheduler::Core : public std::enable_shared_from_this<CheckScheduler::Core> {
 public:
  Core(asio::io_context& io, ExecRunner* exec, TransitionSink sink, CheckSchedulerOptions options,
       std::string no_exec_reason)
      : io_(io),
        strand_(asio::make_strand(io)),
        exec_(exec),
        sink_(std::move(sink)),
        options_(options),
        no_exec_reason_(std::move(no_exec_reason)) {}

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

  void PostUpsert(std::shared_ptr<const Instance> in) {
    asio::post(strand_, [self = shared_from_this(), in = std::move(in)] { self->Upsert(in); });
  }
  void PostRemove(std::string key) {
    asio::post(strand_, [self = shared_from_this(), key = std::move(key)] { self->Remove(key); });
  }

  void Stop() {
    auto self = shared_from_this();
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(strand_, [self, &done] {
      self->StopOnStrand();
      done.set_value();
    });
    if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      // The io_context is not running: nothing runs concurrently with us.
      log::Warn("registry", "check scheduler stopped without a running io_context");
      stopped_ = true;
    }
  }

  HealthStats stats_;

 private:
  void StopOnStrand() {
    stopped_ = true;
    for (auto& [k, c] : checks_) {
      c->removed = true;
      c->timer.cancel();
    }
    checks_.clear();
    stats_.checks = 0;
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
          asio::post(io_, [done = std::move(done), why = no_exec_reason_] {
            done({Health::kCritical, why});
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
    sink_(c.instance, status, std::move(output));
  }

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  ExecRunner* exec_;
  TransitionSink sink_;
  CheckSchedulerOptions options_;
  std::string no_exec_reason_;
  bool stopped_ = false;                                            // strand only
  std::unordered_map<std::string, std::shared_ptr<Check>> checks_;  // strand only
};

CheckScheduler::CheckScheduler(asio::io_context& io, ExecRunner* exec, TransitionSink sink,
                               CheckSchedulerOptions options, std::string no_exec_reason)
    : core_(std::make_shared<Core>(io, exec, std::move(sink), options, std::move(no_exec_reason))) {
}

CheckScheduler::~CheckScheduler() = default;

bool CheckScheduler::Forget(const std::string& key) {
  std::lock_guard lock(scheduled_mu_);
  return scheduled_.erase(key) > 0;
}

void CheckScheduler::Upsert(std::shared_ptr<const Instance> instance) {
  std::string key = InstanceKey(instance->ns, instance->service, instance->id);
  if (!instance->check) {
    if (Forget(key)) core_->PostRemove(std::move(key));
    return;
  }
  {
    std::lock_guard lock(scheduled_mu_);
    scheduled_.insert(std::move(key));
  }
  core_->PostUpsert(std::move(instance));
}

void CheckScheduler::Remove(std::string key) {
  if (Forget(key)) core_->PostRemove(std::move(key));
}
void CheckScheduler::Stop() { core_->Stop(); }
HealthStats& CheckScheduler::stats() { return core_->stats_; }

}  // namespace berth::registry::health
