#pragma once
// What one lazy restore did: how guest pages got in (faults, prefetch, background pass), how
// much was read and installed, and how long the first fault and the prefetch took.
#include <chrono>
#include <cstdint>
#include <string>

namespace thaw::memory {

struct RestoreStats {
  uint64_t faults = 0;                 // page-fault messages read from userfaultfd
  uint64_t faults_left_to_prefetch = 0;  // faults on chunks the prefetcher was installing
  uint64_t chunks_on_demand = 0;       // chunks read and decoded by the fault handler
  uint64_t zero_chunks_on_demand = 0;  // all-zero chunks zero-filled by the fault handler
  uint64_t chunks_prefetched = 0;      // working-set chunks installed by the prefetcher
  uint64_t chunks_background = 0;      // chunks installed by the background pass / load_all
  uint64_t bytes_read = 0;             // stored (compressed) bytes read from the page source
  uint64_t bytes_installed = 0;        // bytes installed with UFFDIO_COPY
  // With a shared image: chunks other clones had put in it already (neither read nor decoded
  // here), and bytes mapped from it with UFFDIO_CONTINUE.
  uint64_t chunks_from_image = 0;
  uint64_t bytes_mapped = 0;
  uint64_t zero_bytes_installed = 0;   // bytes installed with UFFDIO_ZEROPAGE
  uint64_t pages_removed = 0;          // pages dropped by UFFD_EVENT_REMOVE
  uint64_t failed_chunks = 0;          // chunk loads that failed (read error, bad checksum)
  uint64_t failed_pages = 0;           // faulting pages released with SIGBUS (or PROT_NONE)
  uint64_t retries = 0;                // installs that met EAGAIN and were retried
  std::chrono::nanoseconds first_fault_latency{0};  // first fault: message read until woken
  std::chrono::nanoseconds prefetch_time{0};  // loader start until the working set was installed
  // Where the prefetch threads spent their time (summed over threads, working set and
  // background pass): waiting for reads, decoding, installing (UFFDIO_COPY / ZEROPAGE, wakes).
  std::chrono::nanoseconds prefetch_read_time{0}, prefetch_decode_time{0}, prefetch_install_time{0};
  bool prefetch_done = false;
};

// One line for logs: "faults=… on_demand=… prefetched=… read=… MiB …".
std::string to_string(const RestoreStats& s);

}  // namespace thaw::memory
