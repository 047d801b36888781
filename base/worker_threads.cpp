#include "base/worker_threads.h"

#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace thaw {

void run_on_threads(unsigned threads, std::atomic<bool> &failed, const std::function<void()> &body) {
  std::exception_ptr error;
  std::mutex error_mutex;
  auto guarded = [&] {
    try {
      body();
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(guarded);
    guarded();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace thaw
