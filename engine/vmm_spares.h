#pragma once
// Idle VMM processes started ahead of need. A sandbox that takes one skips the fork, the exec,
// the dynamic linking and the start-up of a new process on its critical path (a restore's
// vmm_process phase). A spare has only its socket: it runs in the engine's cgroup until it is
// taken; then SandboxProcess moves it into its sandbox's cgroup (the few MiB it touched before
// stay charged where they were) and passes its TAP and shared image with its first request
// (SCM_RIGHTS). A spare counts as ready once it has said so (vmm_protocol kReady): it has been
// exec'd, linked, has made the VM its sandbox will run in (engine/vmm/vm_shell.h) and is
// serving. Spares are started at the engine's log level of the moment.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/vmm_child.h"

namespace thaw::engine {

class VmmSpares {
 public:
  // Keeps `count` spares of `executable` ready (0: none), started on a thread of its own.
  VmmSpares(std::string executable, unsigned count);
  ~VmmSpares();  // the idle spares, and one still starting, are killed and reaped
  VmmSpares(const VmmSpares&) = delete;
  VmmSpares& operator=(const VmmSpares&) = delete;

  // A live spare, or nullopt when none is ready. It is not replaced until replenish(): a
  // caller on a restore's critical path calls that once its sandbox has started, so that a new
  // process's start-up does not compete with the restore for the CPU.
  std::optional<VmmChild> take();
  void replenish();
  // How many are ready now.
  size_t ready() const;

 private:
  void fill_loop(std::stop_token stop);

  const std::string executable_;
  const unsigned count_;
  mutable std::mutex mu_;
  std::condition_variable_any changed_;
  std::deque<VmmChild> idle_;
  unsigned wanted_ = 0;  // spares to start
  std::jthread filler_;  // last: stops before the members it uses go
};

}  // namespace thaw::engine
