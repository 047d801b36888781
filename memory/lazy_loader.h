#pragma once
// Serves guest memory lazily from a PageSource through userfaultfd.
//
// The regions of a GuestMemory are registered in MISSING mode (kernel-mode faults included, so
// KVM's own accesses are served too). A fault thread reads fault messages and, per fault:
//  - fault-around: reads the chunk holding the page (io_uring, every chunk of a batch of
//    messages in flight at once; concurrent faults on one chunk load it once), decodes it and
//    installs all of its still-missing pages with UFFDIO_COPY, zero pages with UFFDIO_ZEROPAGE
//    (never read), then wakes the chunk's range once;
//  - a chunk the prefetcher is installing is left to it: the prefetcher publishes the chunk's
//    state before its UFFDIO_WAKE, so the faulting thread is woken by that wake;
//  - a page dropped by madvise (UFFD_EVENT_REMOVE) reads as zeros when touched again, as
//    anonymous memory does after MADV_DONTNEED (or, with reload_removed, is loaded again);
//  - EEXIST means the page is already there (fine); EAGAIN means a REMOVE event is pending: the
//    faulting page is woken and faults again once the event has been read.
// Failure: if a chunk cannot be read or decoded, the owner's FailureCallback is called and the
// faulting thread gets SIGBUS through UFFDIO_POISON. Kernels without UFFDIO_POISON (< 6.6) get
// the page mprotect(PROT_NONE)ed and woken instead: the thread gets SIGSEGV (KVM: EFAULT); either
// way nothing wrong is installed and nobody hangs. Should the fault thread be unable to read
// its userfaultfd (poll or read fails), the owner is told (chunk kAllChunks) and every page not
// loaded yet fails at once, the same way, so no access waits for a fault nobody will serve.
//
// Working set: with record_working_set, chunks are recorded in first-touch (first-fault) order
// until stop_recording(). A later restore passes that list to start_prefetch(): it is streamed
// with a deep io_uring queue, decoded on the prefetch thread and installed with
// UFFDIO_COPY_MODE_DONTWAKE in batches, one UFFDIO_WAKE per batch, while the guest already runs
// and faults on whatever is not there yet. An optional background pass then loads every other
// chunk at low priority. Recording is meant for a restore without prefetch: prefetched chunks
// never fault, so they are not recorded.
//
// Lifetime: the GuestMemory and the PageSource must outlive the loader, and the loader must
// outlive every access to still-missing pages (once it is gone the kernel fills them with
// zeros). Call load_all() first to detach the memory from the source.
// Regions backed by hugetlb pages are refused (install granularity would be 2 MiB).
//
// Its parts, each with its own contract: page_space_map.h (where each page lives),
// chunk_claims.h (who installs which chunk), page_installer.h (installing and waking),
// fault_server.h (the fault thread), prefetcher.h (loading in bulk: the working set, the
// background pass, load_all).
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "memory/guest_memory.h"
#include "memory/load_failure.h"
#include "memory/page_source.h"
#include "memory/restore_stats.h"

namespace thaw::memory {

class SharedImage;

// Where guest memory at `guest_addr` lies in the source's page space: pages
// [first_page, first_page + page_count) fill guest [guest_addr, guest_addr + page_count * 4 KiB).
struct RegionBinding {
  uint64_t guest_addr = 0;
  uint64_t first_page = 0;
  uint64_t page_count = 0;
};

struct LazyLoaderOptions {
  bool fault_around = true;          // false: install only the faulting page
  bool record_working_set = false;   // record chunks in first-touch order
  // Pages dropped with madvise(MADV_DONTNEED) come back from the source when touched again
  // (for an owner that drops clean pages to give memory back) instead of reading as zeros.
  bool reload_removed = false;
  unsigned fault_io_depth = 64;      // reads in flight for one batch of fault messages
  unsigned prefetch_io_depth = 128;  // reads in flight while prefetching
  uint32_t prefetch_batch_chunks = 64;  // chunks installed per UFFDIO_WAKE
  unsigned prefetch_threads = 2;     // each reads, decodes and installs its own batches
  FailureCallback on_failure;        // optional
  // One decoded copy of the source shared with other loaders, in this process or others (see
  // shared_image.h); null: the pages are copied into the memory itself. With one, the bound
  // memory is remapped in place as a private view of the image (the GuestMemory's own pages
  // there are dropped), pages dropped by madvise read back from the image, and the image must
  // outlive the memory's mappings. Needs Linux 5.14+ (Userfaultfd::has_minor_shmem).
  SharedImage* shared_image = nullptr;
  // What a page that failed to load becomes once on_failure has returned. kPoison: SIGBUS (or
  // the PROT_NONE fallback) for whoever touches it. kZeroFill: zeros, for an owner whose
  // callback has already stopped every consumer of the memory for good (a VMM that kicks its
  // vCPUs out and tears the VM down): a device thread of the owner that still reads the page
  // is then not killed by a signal, and nothing runs on the zeros.
  enum class FailedPages { kPoison, kZeroFill } failed_pages = FailedPages::kPoison;
};

class LazyLoader {
 public:
  // Registers every bound region with userfaultfd and starts the fault thread. An empty
  // `bindings` binds the GuestMemory's regions in order to consecutive page ranges from page 0.
  // Throws thaw::Error if a binding does not fit the memory or the source.
  LazyLoader(const GuestMemory& memory, const PageSource& source, std::span<const RegionBinding> bindings = {},
             LazyLoaderOptions options = {});
  ~LazyLoader();
  LazyLoader(const LazyLoader&) = delete;
  LazyLoader& operator=(const LazyLoader&) = delete;

  // Starts the prefetch thread on `chunks` (in order), then, if `background`, on every chunk
  // not loaded yet at low CPU priority. Once per loader; throws thaw::Error on a bad chunk id.
  void start_prefetch(std::vector<uint64_t> chunks, bool background = false);
  // Waits until the prefetch threads have finished, background pass included (no-op if none
  // was started).
  void wait_prefetch();
  // Waits until the working set given to start_prefetch is installed (the background pass may
  // still run). No-op if no prefetch was started.
  void wait_prefetch_working_set();
  // Installs every page still missing and returns once all are in: the memory no longer
  // depends on the source. Throws PageSourceError if a chunk cannot be loaded.
  void load_all();

  // Stops recording and returns the chunks touched so far, in first-touch order.
  std::vector<uint64_t> stop_recording();
  // The chunks recorded so far (recording continues).
  std::vector<uint64_t> working_set() const;

  // The guest-physical ranges ({address, length}) the chunks' bound pages fill, sorted, with
  // neighbours merged (chunks out of range are left out).
  std::vector<std::pair<uint64_t, uint64_t>> guest_ranges(std::span<const uint64_t> chunks) const;

  RestoreStats stats() const;
  // UFFDIO_POISON is used for failed pages (else PROT_NONE, see above).
  bool uses_poison() const;
  // The descriptor the fault thread polls and reads (a duplicate of the userfaultfd), for
  // tests that break it under the loader.
  int fault_fd_for_testing() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace thaw::memory
