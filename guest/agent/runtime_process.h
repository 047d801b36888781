#pragma once
// The function's runtime (its bootstrap) as a child of the agent: own session and process
// group, so SHUTDOWN and timeouts end every process it started; stdout and stderr on pipes
// the agent forwards to the host as log lines, and a third pipe at descriptor 3, named by
// _LAMBDA_TELEMETRY_LOG_FD as on AWS, on which the runtime writes whole log records as frames
// (guest/agent/log_relay.h).
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace thaw::agent {

inline constexpr int kTelemetryFd = 3;
inline constexpr const char* kTelemetryFdVariable = "_LAMBDA_TELEMETRY_LOG_FD";

class RuntimeProcess {
 public:
  // Starts `path` with `env` ("K=V") in `cwd`; throws SystemError if it cannot be started.
  RuntimeProcess(const std::string& path, const std::vector<std::string>& env, const std::string& cwd);
  RuntimeProcess(RuntimeProcess&&) = default;
  RuntimeProcess& operator=(RuntimeProcess&&) = default;
  ~RuntimeProcess();

  pid_t pid() const { return pid_; }
  int stdout_fd() const { return out_.get(); }
  int stderr_fd() const { return err_.get(); }
  int telemetry_fd() const { return telemetry_.get(); }
  bool running() const { return pid_ > 0; }

  // Records the exit seen by the agent's reaper (PID 1 reaps every child itself).
  void mark_exited(int wait_status) {
    pid_ = -1;
    status_ = wait_status;
  }
  int wait_status() const { return status_; }
  // "exit status 2" / "signal 9 (Killed)".
  std::string describe_exit() const;

  // SIGTERM to the whole process group, then SIGKILL after `grace` if it is still there.
  void terminate(std::chrono::milliseconds grace);
  // `sig` to the whole process group, while the runtime runs.
  void signal_group(int sig) const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  UniqueFd out_, err_, telemetry_;
};

// The bootstrap to start, or "" if none: a managed runtime's launcher (/var/runtime/bootstrap,
// which only images of a managed runtime have) before the function's own, as on Lambda, where a
// python3.11 function's /var/task/bootstrap is just a file; then /var/task/bootstrap, then a
// layer's /opt/bootstrap.
std::string find_bootstrap();

}  // namespace thaw::agent
