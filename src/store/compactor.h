// Compactor: automatic compaction of a Store's history, as etcd's --auto-compaction-mode and
// --auto-compaction-retention. Without it every revision of every key stays in the store
// until someone calls Store::Compact, so a long-running control plane grows without bound.
//
// - periodic (the default, keep 5 minutes): every check (retention/10, at least 1 s, at
//   most 1 h) the compactor samples (now, current revision); it compacts to the revision of
//   the newest sample taken at least `retention` ago, never to a newer one. So every revision
//   written within the last `retention` stays readable and watchable.
// - revision: every check (1 minute by default) it compacts to current - `revisions`, keeping
//   the last `revisions` revisions.
// - off: nothing (also what a retention of 0 means).
// A compaction the store answers with kCompacted (someone compacted further already) counts
// as done. Any other error is logged and the same target is tried again at the next check;
// errors are never fatal.
//
// Several control planes over one shared store (etcd) compact once: with `leader_id` set the
// compactor runs a LeaderElection on kCompactorLeaderKey and compacts only while it leads
// (every candidate keeps sampling, so a new leader compacts on time). Without it (the
// embedded sqlite store: one process) it always compacts.
//
// Start() runs Tick() on a thread of its own (waking every second at most, real time);
// tests call Tick() themselves with a ManualClock and no thread.
// Thread-safety: Tick from one thread at a time (the compactor's own once started);
// stats(), RenderMetrics() and leading() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "core/clock.h"
#include "core/error.h"
#include "store/leader.h"
#include "store/store.h"

namespace berth::store {

// The key whose holder compacts a shared store.
inline constexpr std::string_view kCompactorLeaderKey = "/store-compactor/leader";

struct CompactorOptions {
  enum class Mode { kOff, kPeriodic, kRevision };
  Mode mode = Mode::kPeriodic;
  // periodic: how long written history stays (0: off).
  Clock::Duration retention = std::chrono::minutes(5);
  // revision: how many of the latest revisions stay (0: off).
  int64_t revisions = 0;
  // Time between checks; 0: retention/10 within [1 s, 1 h] (periodic), 1 minute (revision).
  Clock::Duration check_interval{0};
  // Non-empty: compact only while this candidate leads on kCompactorLeaderKey.
  std::string leader_id;
  int64_t leader_ttl_seconds = 10;
};

// Builds options from etcd-style flags: mode "periodic" | "revision" | "off"; retention for
// periodic a duration ("5m", "90s", "1h", "1h30m") or a bare number of hours (etcd's
// convention), for revision a count of revisions. "0" (or mode "off") disables compaction.
Result<CompactorOptions> ParseCompactorFlags(std::string_view mode, std::string_view retention);

struct CompactorStats {
  int64_t compactions = 0;        // successful Compact calls (kCompacted ones included)
  int64_t failures = 0;           // Compact calls that failed (retried at the next check)
  int64_t compact_revision = 0;   // the last revision this compactor compacted to
  int64_t last_duration_us = 0;   // how long the last successful Compact took
  int64_t total_duration_us = 0;  // sum over successful Compact calls
};

class Compactor {
 public:
  Compactor(Store& store, Clock& clock, CompactorOptions options);
  ~Compactor();  // Stop()
  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

  // Starts the compactor's thread (nothing when the mode is off).
  void Start();
  // Joins the thread and resigns the leadership (best effort). Idempotent.
  void Stop();

  // One step: ticks the election (with leader_id), samples when a check is due and compacts
  // when there is something to compact and this process leads. Returns the revision it
  // compacted to, nullopt when it did not compact, or the store's error (retried later).
  Result<std::optional<int64_t>> Tick();

  // The revision a compaction now would go to (0: none yet); for tests and logs.
  int64_t Target() const;
  bool enabled() const { return options_.mode != CompactorOptions::Mode::kOff; }
  bool leading() const { return leading_.load(); }
  const CompactorOptions& options() const { return options_; }
  Clock::Duration check_interval() const { return interval_; }
  CompactorStats stats() const;
  // Prometheus text of the counters above.
  std::string RenderMetrics() const;

 private:
  struct Sample {
    Clock::TimePoint at;
    int64_t revision = 0;
  };
  Result<void> SampleNow(Clock::TimePoint now);
  int64_t TargetLocked(Clock::TimePoint now) const;
  Result<std::optional<int64_t>> CompactTo(int64_t target);
  void Loop();

  Store& store_;
  Clock& clock_;
  const CompactorOptions options_;
  const Clock::Duration interval_;
  std::unique_ptr<LeaderElection> election_;  // with leader_id
  std::atomic<bool> leading_{false};

  mutable std::mutex mu_;       // guards everything below (Tick vs stats readers)
  std::deque<Sample> samples_;  // oldest first (periodic)
  int64_t current_ = 0;         // current revision at the last check (revision mode)
  std::optional<Clock::TimePoint> next_check_;
  int64_t done_ = 0;  // highest revision known compacted
  CompactorStats stats_;

  std::thread thread_;
  std::mutex stop_mu_;  // guards stop_
  std::condition_variable stop_cv_;
  bool stop_ = false;
};

}  // namespace berth::store
