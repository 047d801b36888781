#pragma once
// A userfaultfd file descriptor set up for lazy guest memory: MISSING faults from user AND
// kernel mode (KVM reads guest memory from the kernel, so UFFD_USER_MODE_ONLY is never set),
// UFFD_EVENT_REMOVE delivered (madvise(DONTNEED/REMOVE) on a registered range), and
// UFFDIO_POISON used when the running kernel has it (Linux >= 6.6).
//
// The install calls report the two outcomes the kernel documents as normal rather than
// throwing: EEXIST (a page of the range is already present; `bytes` says how far it got) and
// EAGAIN (a non-cooperative event such as REMOVE is pending: read the events, then retry).
// ENOENT/ESRCH (the range vanished, the faulting process exited) are reported too.
#include <cstddef>
#include <cstdint>

#include "base/unique_fd.h"

namespace thaw::memory {

class Userfaultfd {
 public:
  // Opens a non-blocking, close-on-exec userfaultfd (the syscall, else /dev/userfaultfd) and
  // negotiates the API. Throws SystemError naming the call if userfaultfd is unavailable.
  static Userfaultfd open();

  int fd() const { return fd_.get(); }
  // UFFDIO_POISON is available: a page can be marked so that touching it raises SIGBUS.
  bool has_poison() const { return has_poison_; }
  // Minor faults on shared memory (Linux 5.14+): a SharedImage can back guest memory.
  bool has_minor_shmem() const { return has_minor_shmem_; }

  // Registers [addr, addr+len) in MISSING mode (page-aligned). Throws if the kernel cannot
  // copy into or zero-fill the range (e.g. an unsupported mapping type).
  void register_missing(void* addr, size_t len);
  // Registers a MAP_PRIVATE mapping of a memfd in MISSING and MINOR mode: a page missing from
  // the file faults as MISSING, a page the file has but the mapping does not yet map faults as
  // MINOR (UFFDIO_CONTINUE maps it; the mapping being private, read-only until written, when the
  // kernel copies it). Throws unless has_minor_shmem().
  void register_missing_and_minor(void* addr, size_t len);
  void unregister(void* addr, size_t len) noexcept;

  struct Result {
    size_t bytes = 0;  // bytes installed from the start of the range
    int error = 0;     // 0, EEXIST, EAGAIN, ENOENT or ESRCH
  };
  // UFFDIO_COPY. wake=false passes UFFDIO_COPY_MODE_DONTWAKE (the caller wakes in bulk later).
  Result copy(void* dst, const void* src, size_t len, bool wake);
  // UFFDIO_ZEROPAGE: maps the shared zero page (copy-on-write), nothing read from anywhere.
  Result zeropage(void* dst, size_t len, bool wake);
  // UFFDIO_CONTINUE: maps the file's own pages into a MINOR-registered range. EFAULT is
  // reported too: a page of the range is missing from the file.
  Result continue_mapping(void* dst, size_t len, bool wake);
  // UFFDIO_POISON (only when has_poison()).
  Result poison(void* dst, size_t len, bool wake);
  // UFFDIO_WAKE: releases threads waiting on faults in the range (they retry the access).
  void wake(void* addr, size_t len);

 private:
  UniqueFd fd_;
  bool has_poison_ = false;
  bool has_minor_shmem_ = false;
};

}  // namespace thaw::memory
