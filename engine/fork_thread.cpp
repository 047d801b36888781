#include "engine/fork_thread.h"

#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/error.h"

namespace thaw::engine {
namespace {

class SpawnerThread {
 public:
  SpawnerThread() : thread_([this] { loop(); }) {}
  // At exit: the thread ends, and with it (PDEATHSIG) any VMM process still running.
  ~SpawnerThread() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  pid_t fork(const std::function<void()>& child) {
    Request r{&child};
    std::unique_lock lock(mu_);
    queue_.push_back(&r);
    cv_.notify_all();
    cv_.wait(lock, [&] { return r.done; });
    if (r.pid < 0) throw_error_number(r.error, "fork", "VMM process");
    return r.pid;
  }

 private:
  struct Request {
    const std::function<void()>* child;
    pid_t pid = -1;
    int error = 0;
    bool done = false;
  };

  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Request* r = queue_.front();
      queue_.pop_front();
      pid_t pid = ::fork();
      if (pid == 0) {
        (*r->child)();
        ::_exit(127);
      }
      r->pid = pid;
      r->error = pid < 0 ? errno : 0;
      r->done = true;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request*> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace

pid_t fork_on_spawner_thread(const std::function<void()>& child) {
  static SpawnerThread spawner;
  return spawner.fork(child);
}

}  // namespace thaw::engine
