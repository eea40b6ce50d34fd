#include "core/loop.h"

#include <gtest/gtest.h>

#include <asio/post.hpp>

#include <future>
#include <set>
#include <thread>

namespace berth {
namespace {

TEST(EventLoopPoolTest, RunsEachLoopOnItsOwnThread) {
  EventLoopPool pool(3);
  pool.Start();
  std::set<std::thread::id> threads;
  for (size_t i = 0; i < pool.size(); ++i) {
    std::promise<std::pair<std::thread::id, int>> where;
    asio::post(pool.loop(i), [&] {
      where.set_value({std::this_thread::get_id(), EventLoopPool::CurrentIndex()});
    });
    auto [id, index] = where.get_future().get();
    EXPECT_NE(id, std::this_thread::get_id());
    EXPECT_EQ(index, static_cast<int>(i));
    threads.insert(id);
  }
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(EventLoopPool::CurrentIndex(), -1);
  pool.Stop();
  pool.Stop();
}

TEST(EventLoopPoolTest, NextGoesRoundRobin) {
  EventLoopPool pool(2);
  asio::io_context* a = &pool.Next();
  asio::io_context* b = &pool.Next();
  EXPECT_NE(a, b);
  EXPECT_EQ(a, &pool.Next());
}

TEST(EventLoopPoolTest, SurvivesAThrowingHandler) {
  EventLoopPool pool(1);
  pool.Start();
  asio::post(pool.loop(0), [] { throw std::runtime_error("boom"); });
  std::promise<void> ran;
  asio::post(pool.loop(0), [&] { ran.set_value(); });
  ran.get_future().wait();
}

TEST(EventLoopPoolTest, StopWithoutStart) {
  EventLoopPool pool(2);
  pool.Stop();
}

}  // namespace
}  // namespace berth
