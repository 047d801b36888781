#pragma once
// Reads a live process's memory (its readable mappings, through /proc/PID/mem) as guest
// regions, one per mapping at its virtual address: what `thaw capture` saves and the page-store
// benchmarks use as a corpus. The caller should stop the process for a consistent image.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/mapping.h"
#include "snapshot/page_store_writer.h"

namespace thaw::snapshot {

struct ProcessMapping {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string perms;  // "r-xp"
  std::string path;   // file, "[heap]", "[stack]", or empty
};

// Parses /proc/PID/maps. Throws thaw::Error if the process does not exist.
std::vector<ProcessMapping> read_process_maps(pid_t pid);
// Whether a mapping is worth saving: readable, and not a kernel or device window ([vvar],
// [vsyscall], /dev/... other than /dev/shm and /dev/zero) whose reads fail or have effects.
bool capturable(const ProcessMapping& m);

struct ProcessImage {
  std::vector<Mapping> buffers;  // one private copy per region
  std::vector<GuestRegion> regions;
  std::vector<ProcessMapping> mappings;  // the mapping each region came from
  uint64_t unreadable_pages = 0;        // pages the kernel refused to read (saved as zeros)
};

// Copies every capturable mapping. `progress(done_bytes, total_bytes)` is called per mapping.
ProcessImage read_process_memory(pid_t pid,
                                 const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace thaw::snapshot
