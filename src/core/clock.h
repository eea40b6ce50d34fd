// Time as a collaborator. Components that wait, expire or schedule take a `Clock&` in
// their constructor so tests can drive time by hand (ManualClock) instead of sleeping.
// Thread-safety: SystemClock is stateless; ManualClock is safe to read and advance from
// any thread.
#pragma once

#include <atomic>
#include <chrono>

namespace berth {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

  virtual ~Clock() = default;
  // Monotonic time, for deadlines and intervals.
  virtual TimePoint Now() const = 0;
  // Wall-clock time in milliseconds since the Unix epoch, for records people read.
  virtual int64_t WallMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  int64_t WallMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(Duration(now_ns_.load())); }
  int64_t WallMillis() const override { return 1'700'000'000'000 + now_ns_.load() / 1'000'000; }
  void Advance(Duration d) { now_ns_ += d.count(); }

 private:
  std::atomic<int64_t> now_ns_{1'000'000'000};
};

}  // namespace berth
