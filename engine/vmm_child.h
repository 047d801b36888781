#pragma once
// Starting a thaw-vmm process (engine/vmm_process_main.cpp): forked on the spawner thread
// (engine/fork_thread.h), moved into its cgroup before it runs any code of its own, given its
// descriptors at the protocol's numbers (engine/vmm_protocol.h), then exec.
#include <sys/types.h>

#include <array>
#include <chrono>
#include <stop_token>
#include <string>

#include "base/unique_fd.h"

namespace thaw::engine {

// A VMM process that has not been handed to a sandbox yet, or is being.
struct VmmChild {
  pid_t pid = -1;
  UniqueFd pidfd;    // empty where pidfd_open is not supported
  UniqueFd control;  // the engine's end of the socketpair (the child's is its kSocketFd)
  bool vm_made_ahead = false;  // a spare holding the VM its sandbox will run in
};

// Forks and execs `executable` at the engine's log level. `cgroup_procs_fd`: the cgroup.procs of
// the cgroup it runs in (-1: the engine's); `fds`: what it finds at kTapFd, kImageDataFd and
// kImageIndexFd (-1: nothing). Throws SystemError if the socketpair or the fork fails; a child
// that cannot exec exits with status 127.
VmmChild spawn_vmm_child(const std::string& executable, int cgroup_procs_fd, std::array<int, 3> fds);

// A spare (thaw-vmm --spare, engine/vmm_spares.h): spawned with no cgroup and no descriptors, and
// returned once it has said kReady, i.e. finished starting. Throws thaw::Error if it ends or
// says anything else first, or is not ready within `deadline` or before `stop` is requested
// (it is killed then).
VmmChild spawn_ready_spare(const std::string& executable, std::chrono::milliseconds deadline,
                           std::stop_token stop = {});

// Ends a child no sandbox owns (SIGKILL) and reaps it.
void kill_vmm_child(VmmChild& child);

// Whether the child has ended, without waiting; one that has is reaped (its pid becomes -1).
bool vmm_child_ended(VmmChild& child);

}  // namespace thaw::engine
