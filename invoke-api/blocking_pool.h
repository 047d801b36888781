#pragma once
// Threads for the calls that block: an Invoke holds its thread for as long as the function
// runs (up to 900 s), so the server's I/O thread hands every request to one of these. A thread
// is made when a job finds none idle (up to `max_threads`; past that, jobs queue) and kept idle
// for the next, so the threads number the peak of calls in flight, never the connections.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace thaw::api {

class BlockingPool {
 public:
  explicit BlockingPool(unsigned max_threads);
  ~BlockingPool();  // runs what is queued, then joins every thread
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // `job` must not throw.
  void submit(std::function<void()> job);
  // Blocks until no job is queued or running.
  void wait_idle();
  unsigned threads() const;

 private:
  void work();

  const unsigned max_threads_;
  mutable std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  unsigned waiting_ = 0, running_ = 0;
  bool stopping_ = false;
};

}  // namespace thaw::api
