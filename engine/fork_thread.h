#pragma once
// fork(2) on one long-lived thread. A child's PR_SET_PDEATHSIG fires when the *thread* that
// forked it ends, not its process, and sandboxes are started on callers' threads (a
// std::async's, an HTTP server's) that end while their sandboxes live on. Forked from here,
// the signal comes when the engine's process ends: this thread ends only with it.
#include <sys/types.h>

#include <functional>

namespace thaw::engine {

// Forks on that thread and runs `child` in the child, which must make only async-signal-safe
// calls and end in exec or _exit. Returns the child's pid; throws SystemError if fork fails.
pid_t fork_on_spawner_thread(const std::function<void()>& child);

}  // namespace thaw::engine
