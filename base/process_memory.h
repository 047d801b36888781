#pragma once
// How much memory a process holds, from /proc/PID/smaps_rollup (Linux 4.14+). PSS divides each
// page among the processes that map it, so summing it over processes that share memory counts
// every page once; RSS would count a shared page in each.
#include <sys/types.h>

#include <cstdint>

namespace thaw {

struct ProcessMemory {
  uint64_t rss_bytes = 0;
  uint64_t pss_bytes = 0;
  uint64_t shared_bytes = 0;   // Shared_Clean + Shared_Dirty
  uint64_t private_bytes = 0;  // Private_Clean + Private_Dirty
  uint64_t anonymous_bytes = 0;
};

// Throws SystemError when the file cannot be read (no such process, no permission) and
// thaw::Error when it lacks the Pss line.
ProcessMemory process_memory(pid_t pid);

}  // namespace thaw
