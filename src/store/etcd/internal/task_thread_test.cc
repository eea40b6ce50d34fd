// Tasks run in order on one thread, delayed tasks at their time, and a TaskThread may be
// destroyed from one of its own tasks.
#include "store/etcd/internal/task_thread.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <vector>

namespace berth::store::etcd_internal {
namespace {

using namespace std::chrono_literals;

TEST(TaskThreadTest, RunsPostedTasksInOrderAndDelayedOnesAfterThem) {
  TaskThread tasks("test");
  std::vector<int> order;  // touched only by the task thread until done is set
  std::promise<void> done;
  tasks.PostAfter(30ms, [&] {
    order.push_back(3);
    done.set_value();
  });
  tasks.Post([&] { order.push_back(1); });
  tasks.Post([&] { order.push_back(2); });
  done.get_future().wait();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(TaskThreadTest, StopDropsTasksNotYetDue) {
  auto ran = std::make_shared<std::atomic<bool>>(false);
  {
    TaskThread tasks("test");
    tasks.PostAfter(1h, [ran] { *ran = true; });
  }
  EXPECT_FALSE(ran->load());
}

TEST(TaskThreadTest, MayBeDestroyedFromItsOwnTask) {
  auto tasks = std::make_shared<std::unique_ptr<TaskThread>>(std::make_unique<TaskThread>("t"));
  std::promise<void> destroyed;
  TaskThread* raw = tasks->get();
  raw->Post([tasks, &destroyed] {
    tasks->reset();  // ~TaskThread on its own thread: detaches instead of joining itself
    destroyed.set_value();
  });
  destroyed.get_future().wait();
  EXPECT_EQ(*tasks, nullptr);
}

}  // namespace
}  // namespace berth::store::etcd_internal
