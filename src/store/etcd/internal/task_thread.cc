#include "store/etcd/internal/task_thread.h"

#include <pthread.h>

namespace berth::store::etcd_internal {

TaskThread::TaskThread(std::string name) {
  thread_ = std::thread([state = state_] { Run(state); });
  pthread_setname_np(thread_.native_handle(), name.substr(0, 15).c_str());
}

TaskThread::~TaskThread() { Stop(); }

void TaskThread::PostAt(Clock::time_point at, Task task) {
  std::lock_guard lock(state_->mu);
  if (state_->stopping) return;
  auto it = state_->tasks.emplace(std::make_pair(at, state_->next_seq++), std::move(task)).first;
  // The thread sleeps until the earliest task is due: wake it only for a new earliest one.
  if (it == state_->tasks.begin()) state_->cv.notify_one();
}

void TaskThread::Stop() {
  std::map<std::pair<Clock::time_point, uint64_t>, Task> dropped;
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
    dropped.swap(state_->tasks);
    state_->cv.notify_all();
  }
  dropped.clear();  // outside the lock: a task's captures may post or stop when destroyed
  std::lock_guard lock(join_mu_);
  if (!thread_.joinable()) return;
  if (OnThread()) {
    thread_.detach();  // the thread holds its state and exits after the current task
  } else {
    thread_.join();
  }
}

void TaskThread::Run(const std::shared_ptr<State>& state) {
  std::unique_lock lock(state->mu);
  while (!state->stopping) {
    if (state->tasks.empty()) {
      state->cv.wait(lock);
      continue;
    }
    auto first = state->tasks.begin();
    const Clock::time_point due = first->first.first;  // a copy: the map may change meanwhile
    if (due > Clock::now()) {
      state->cv.wait_until(lock, due);
      continue;
    }
    Task task = std::move(first->second);
    state->tasks.erase(first);
    lock.unlock();
    task();
    task = nullptr;
    lock.lock();
  }
}

}  // namespace berth::store::etcd_internal
