#include "memory/loader_counters.h"

namespace thaw::memory {

RestoreStats LoaderCounters::snapshot() const {
  RestoreStats s;
  s.faults = faults;
  s.faults_left_to_prefetch = faults_left_to_prefetch;
  s.chunks_on_demand = chunks_on_demand;
  s.zero_chunks_on_demand = zero_chunks_on_demand;
  s.chunks_prefetched = chunks_prefetched;
  s.chunks_background = chunks_background;
  s.bytes_read = bytes_read;
  s.bytes_installed = bytes_installed;
  s.chunks_from_image = chunks_from_image;
  s.bytes_mapped = bytes_mapped;
  s.zero_bytes_installed = zero_bytes_installed;
  s.pages_removed = pages_removed;
  s.failed_chunks = failed_chunks;
  s.failed_pages = failed_pages;
  s.retries = retries;
  s.first_fault_latency = std::chrono::nanoseconds(first_fault_ns.load());
  s.prefetch_time = std::chrono::nanoseconds(prefetch_ns.load());
  s.prefetch_done = prefetch_done;
  s.prefetch_read_time = std::chrono::nanoseconds(prefetch_read_ns.load());
  s.prefetch_decode_time = std::chrono::nanoseconds(prefetch_decode_ns.load());
  s.prefetch_install_time = std::chrono::nanoseconds(prefetch_install_ns.load());
  return s;
}

}  // namespace thaw::memory
