#include "store/compactor.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>

#include "core/log.h"
#include "core/units.h"

namespace berth::store {
namespace {

constexpr std::string_view kComponent = "store.compactor";
using std::chrono::duration_cast;
using std::chrono::microseconds;

Clock::Duration IntervalFor(const CompactorOptions& o) {
  if (o.check_interval > Clock::Duration::zero()) return o.check_interval;
  if (o.mode == CompactorOptions::Mode::kRevision) return std::chrono::minutes(1);
  return std::clamp<Clock::Duration>(o.retention / 10, std::chrono::seconds(1),
                                     std::chrono::hours(1));
}

bool ParseCount(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string Describe(const CompactorOptions& o) {
  if (o.mode == CompactorOptions::Mode::kRevision) {
    return fmt::format("keeping the last {} revisions", o.revisions);
  }
  return fmt::format("keeping {} s of history",
                     std::chrono::duration_cast<std::chrono::seconds>(o.retention).count());
}

}  // namespace

Result<CompactorOptions> ParseCompactorFlags(std::string_view mode, std::string_view retention) {
  CompactorOptions o;
  if (mode == "off") {
    o.mode = CompactorOptions::Mode::kOff;
    return o;
  }
  if (mode == "periodic") {
    // A duration (core/units.h); a bare number is hours, as etcd reads this flag.
    auto d = ParseDuration(retention, std::chrono::hours(1));
    if (!d) {
      return std::unexpected(Wrap(d.error(), "--auto-compaction-retention"));
    }
    o.mode = d->count() == 0 ? CompactorOptions::Mode::kOff : CompactorOptions::Mode::kPeriodic;
    o.retention = std::chrono::duration_cast<Clock::Duration>(*d);
    return o;
  }
  if (mode == "revision") {
    int64_t n = 0;
    if (!ParseCount(retention, &n) || n < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("--auto-compaction-retention \"{}\" is not a number of revisions "
                              "(--auto-compaction-mode revision)",
                              retention));
    }
    o.mode = n == 0 ? CompactorOptions::Mode::kOff : CompactorOptions::Mode::kRevision;
    o.revisions = n;
    return o;
  }
  return Fail(ErrorCode::kInvalidArgument,
              fmt::format("--auto-compaction-mode \"{}\" is not periodic, revision or off", mode));
}

Compactor::Compactor(Store& store, Clock& clock, CompactorOptions options)
    : store_(store), clock_(clock), options_(std::move(options)), interval_(IntervalFor(options_)) {
  if (!options_.leader_id.empty() && enabled()) {
    election_ = std::make_unique<LeaderElection>(
        store_, clock_,
        LeaderElectionOptions{.key = std::string(kCompactorLeaderKey),
                              .id = options_.leader_id,
                              .ttl_seconds = options_.leader_ttl_seconds});
  }
}

Compactor::~Compactor() { Stop(); }

void Compactor::Start() {
  if (!enabled() || thread_.joinable()) return;
  log::Info(kComponent, "auto-compaction {} ({}), checking every {} ms{}",
            options_.mode == CompactorOptions::Mode::kPeriodic ? "periodic" : "revision",
            Describe(options_),
            std::chrono::duration_cast<std::chrono::milliseconds>(interval_).count(),
            election_ ? " while leading " + std::string(kCompactorLeaderKey) : "");
  thread_ = std::thread([this] { Loop(); });
}

void Compactor::Stop() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(stop_mu_);
      stop_ = true;
      stop_cv_.notify_all();
    }
    thread_.join();
  }
  if (election_ && election_->leading()) election_->Resign();
  leading_.store(false);
}

void Compactor::Loop() {
  // Wake often enough to renew the leader lease (every ttl/3) and to check on time.
  Clock::Duration wake = std::min<Clock::Duration>(std::chrono::seconds(1), interval_);
  if (election_) {
    wake = std::min<Clock::Duration>(
        wake, std::chrono::seconds(std::max<int64_t>(1, options_.leader_ttl_seconds)) / 3);
  }
  while (true) {
    if (auto r = Tick(); !r) log::Warn(kComponent, "{}", r.error().message);
    std::unique_lock lock(stop_mu_);
    if (stop_cv_.wait_for(lock, wake, [&] { return stop_; })) return;
  }
}

Result<std::optional<int64_t>> Compactor::Tick() {
  if (!enabled()) return std::nullopt;
  if (election_) {
    const bool was = election_->leading();
    auto r = election_->Tick();
    const bool now_leading = r && *r;
    if (now_leading && !was) {
      log::Info(kComponent, "{} compacts the store (leader)", options_.leader_id);
    } else if (!now_leading && was) {
      log::Warn(kComponent, "{} stops compacting: {}", options_.leader_id,
                r ? election_->last_loss() : r.error().message);
    } else if (!r) {
      log::Warn(kComponent, "compactor leader: {}", r.error().message);
    }
    leading_.store(now_leading);
  } else {
    leading_.store(true);
  }

  const Clock::TimePoint now = clock_.Now();
  int64_t target = 0;
  {
    std::lock_guard lock(mu_);
    if (next_check_ && now < *next_check_) return std::nullopt;
    next_check_ = now + interval_;
    if (auto s = SampleNow(now); !s) {
      return std::unexpected(Wrap(s.error(), "auto-compaction: current revision"));
    }
    target = TargetLocked(now);
    // Samples older than the target's are of no further use (followers prune too).
    while (samples_.size() > 1 && samples_[1].revision <= target) samples_.pop_front();
    if (!leading_.load() || target <= done_) return std::nullopt;
  }
  return CompactTo(target);
}

Result<void> Compactor::SampleNow(Clock::TimePoint now) {
  auto rev = store_.CurrentRevision();
  if (!rev) return std::unexpected(rev.error());
  current_ = *rev;
  if (options_.mode == CompactorOptions::Mode::kPeriodic) {
    samples_.push_back({now, *rev});
  }
  return {};
}

int64_t Compactor::TargetLocked(Clock::TimePoint now) const {
  if (options_.mode == CompactorOptions::Mode::kRevision) {
    return std::max<int64_t>(0, current_ - options_.revisions);
  }
  // The newest sample taken at least `retention` ago: every revision written since is kept.
  int64_t target = 0;
  for (const Sample& s : samples_) {
    if (now - s.at < options_.retention) break;
    target = s.revision;
  }
  return target;
}

int64_t Compactor::Target() const {
  std::lock_guard lock(mu_);
  return TargetLocked(clock_.Now());
}

Result<std::optional<int64_t>> Compactor::CompactTo(int64_t target) {
  const auto started = std::chrono::steady_clock::now();
  auto r = store_.Compact(target);
  const auto took = duration_cast<microseconds>(std::chrono::steady_clock::now() - started);
  std::lock_guard lock(mu_);
  if (!r && r.error().code != ErrorCode::kCompacted) {
    ++stats_.failures;
    return std::unexpected(
        Wrap(r.error(), fmt::format("auto-compaction at revision {} (retried in {} ms)", target,
                                    duration_cast<std::chrono::milliseconds>(interval_).count())));
  }
  done_ = std::max(done_, target);
  ++stats_.compactions;
  stats_.compact_revision = done_;
  stats_.last_duration_us = took.count();
  stats_.total_duration_us += took.count();
  if (r) {
    log::Info(kComponent, "compacted the store at revision {} in {:.1f} ms ({})", target,
              static_cast<double>(took.count()) / 1000.0, Describe(options_));
  } else {
    log::Info(kComponent, "revision {} was already compacted: {}", target, r.error().message);
  }
  return target;
}

CompactorStats Compactor::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::string Compactor::RenderMetrics() const {
  const CompactorStats s = stats();
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view help, std::string_view type,
                       std::string value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("berth_store_compactions_total", "Automatic compactions of the store's history", "counter",
         fmt::format("{}", s.compactions));
  metric("berth_store_compaction_failures_total",
         "Automatic compactions that failed (retried at the next check)", "counter",
         fmt::format("{}", s.failures));
  metric("berth_store_compact_revision", "The revision the compactor last compacted to", "gauge",
         fmt::format("{}", s.compact_revision));
  metric("berth_store_compaction_seconds_total", "Time spent in automatic compactions", "counter",
         fmt::format("{:.6f}", static_cast<double>(s.total_duration_us) / 1e6));
  metric("berth_store_compaction_last_seconds", "How long the last automatic compaction took",
         "gauge", fmt::format("{:.6f}", static_cast<double>(s.last_duration_us) / 1e6));
  metric("berth_store_compactor_leader", "1 when this process compacts the store", "gauge",
         leading_.load() ? "1" : "0");
  return out;
}

}  // namespace berth::store
