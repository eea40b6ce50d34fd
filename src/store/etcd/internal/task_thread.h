// TaskThread: one thread that runs posted tasks in order, and tasks posted for later at their
// time. The etcd store delivers watch responses and schedules watch reconnects on one.
// Private to store/etcd. Thread-safety: every method from any thread, the task thread
// included (destroyed there, the thread finishes its current task and exits on its own).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace berth::store::etcd_internal {

class TaskThread {
 public:
  using Task = std::function<void()>;
  using Clock = std::chrono::steady_clock;

  explicit TaskThread(std::string name);
  ~TaskThread();  // Stop()
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // Runs `task` on the thread after the tasks already due. Dropped after Stop.
  void Post(Task task) { PostAt(Clock::time_point::min(), std::move(task)); }
  void PostAfter(std::chrono::milliseconds delay, Task task) {
    PostAt(Clock::now() + delay, std::move(task));
  }
  // Stops the thread: tasks not yet started are dropped; a running one finishes first.
  void Stop();
  bool OnThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  // Shared with the thread, which may outlive this object when destroyed from a task.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    // Ordered by due time, then by posting order.
    std::map<std::pair<Clock::time_point, uint64_t>, Task> tasks;  // guarded by mu
    uint64_t next_seq = 0;                                         // guarded by mu
    bool stopping = false;                                         // guarded by mu
  };

  void PostAt(Clock::time_point at, Task task);
  static void Run(const std::shared_ptr<State>& state);

  const std::shared_ptr<State> state_ = std::make_shared<State>();
  std::mutex join_mu_;
  std::thread thread_;  // guarded by join_mu_
};

}  // namespace berth::store::etcd_internal
