#pragma once
// The lazy loader's running figures, bumped by its threads (relaxed: they are statistics) and
// read into a RestoreStats.
#include <atomic>
#include <cstdint>

#include "memory/restore_stats.h"

namespace thaw::memory {

struct LoaderCounters {
  std::atomic<uint64_t> faults{0}, faults_left_to_prefetch{0}, chunks_on_demand{0}, zero_chunks_on_demand{0},
      chunks_prefetched{0}, chunks_background{0}, chunks_from_image{0}, bytes_read{0}, bytes_installed{0}, bytes_mapped{0},
      zero_bytes_installed{0},
      pages_removed{0}, failed_chunks{0}, failed_pages{0}, retries{0};
  std::atomic<int64_t> first_fault_ns{0}, prefetch_ns{0}, prefetch_read_ns{0}, prefetch_decode_ns{0},
      prefetch_install_ns{0};
  std::atomic<bool> prefetch_done{false};

  RestoreStats snapshot() const;
};

}  // namespace thaw::memory
