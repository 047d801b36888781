#include "invoke-api/blocking_pool.h"

namespace thaw::api {

BlockingPool::BlockingPool(unsigned max_threads) : max_threads_(max_threads ? max_threads : 1) {}

BlockingPool::~BlockingPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void BlockingPool::submit(std::function<void()> job) {
  std::lock_guard lock(mu_);
  jobs_.push_back(std::move(job));
  // A waiting thread takes it; only when every thread is busy with an earlier job is one made.
  if (waiting_ >= jobs_.size() || threads_.size() >= max_threads_) {
    wake_.notify_one();
    return;
  }
  threads_.emplace_back([this] { work(); });
}

void BlockingPool::wait_idle() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return jobs_.empty() && running_ == 0; });
}

unsigned BlockingPool::threads() const {
  std::lock_guard lock(mu_);
  return unsigned(threads_.size());
}

void BlockingPool::work() {
  std::unique_lock lock(mu_);
  for (;;) {
    ++waiting_;
    wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    --waiting_;
    if (jobs_.empty()) return;  // stopping, and nothing left to run
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    lock.unlock();
    job();
    job = nullptr;  // what it captured goes before the pool counts it done
    lock.lock();
    --running_;
    if (jobs_.empty() && running_ == 0) idle_.notify_all();
  }
}

}  // namespace thaw::api
