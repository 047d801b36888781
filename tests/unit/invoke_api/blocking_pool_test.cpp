// The pool makes a thread only when every one is busy, keeps it for the next job, and runs all.
#include <atomic>
#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

#include "invoke-api/blocking_pool.h"

namespace thaw::api {
namespace {

TEST(BlockingPool, ThreadsNumberThePeakOfJobsInFlight) {
  BlockingPool pool(64);
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  bool release = false;
  for (int i = 0; i < 10; ++i)
    pool.submit([&] {
      std::unique_lock lock(mu);
      ++started;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });  // all ten block at once: ten threads
    });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return started == 10; });
    release = true;
  }
  cv.notify_all();
  pool.wait_idle();
  EXPECT_EQ(pool.threads(), 10u);
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) {
    pool.submit([&] { ++ran; });
    pool.wait_idle();  // one at a time: the idle threads take them, none is made
  }
  EXPECT_EQ(ran.load(), 100);
  EXPECT_EQ(pool.threads(), 10u);
}

TEST(BlockingPool, PastItsLimitJobsQueueAndAllRun) {
  std::atomic<int> ran{0};
  {
    BlockingPool pool(2);
    for (int i = 0; i < 50; ++i) pool.submit([&] { ++ran; });
    EXPECT_LE(pool.threads(), 2u);
  }  // the destructor runs what is queued
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
}  // namespace thaw::api
