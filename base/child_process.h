#pragma once
// A long-running helper program (a server that a test or a benchmark starts beside the engine):
// spawned with its output in a log file; on destruction sent its stop signal and reaped, with
// SIGKILL if it has not ended within the grace, so a hung helper cannot hang its owner.
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace thaw {

class ChildProcess {
 public:
  // argv[0] is a path (no PATH search). Throws SystemError if it cannot be spawned.
  ChildProcess(const std::vector<std::string>& argv, std::string log_path, int stop_signal = SIGTERM,
               std::chrono::milliseconds grace = std::chrono::seconds(30));
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool running() const;  // false once it has exited (it is reaped then)
  // Polls `ready` (every 50 ms) until it holds: a helper is up when it answers, not when it
  // was spawned. Throws thaw::Error, with the end of its log, if it exits first or `limit`
  // passes; `what` names it there.
  void wait_until_up(std::string_view what, std::chrono::milliseconds limit, const std::function<bool()>& ready) const;
  // The end of its log: what to show when it failed to start.
  std::string log_tail(size_t max_bytes = 2000) const;

 private:
  mutable pid_t pid_ = -1;
  std::string log_path_;
  int stop_signal_;
  std::chrono::milliseconds grace_;
};

}  // namespace thaw
