#pragma once
// Guest memory mapped privately from a snapshot's shared copy (memory/shared_image.h) copies a
// page into the process's own memory the first time the guest writes it. Inside the first
// invocation that is one copy-on-write fault per page, each a stage-2 exit, a host fault and
// a copy. The pages a clone writes are much the same from clone to clone (the hooks' entropy,
// the clock, the runtime's heap): the first clone to map a snapshot's copy records them, and
// later clones copy them in one batch before their vCPUs resume.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "memory/guest_memory.h"

namespace thaw::memory {

// Guest-physical ranges (address, bytes) of the pages of `memory` that are now the process's
// own copies: present, not file-backed and mapped only here (/proc/self/pagemap). The zero
// page and pages still shared with the copy are not. Throws SystemError if pagemap cannot be read.
std::vector<std::pair<uint64_t, uint64_t>> privately_written_ranges(const GuestMemory& memory);

// Makes each range's pages private copies now (MADV_POPULATE_WRITE, Linux 5.14+): pages not
// installed yet fault through the lazy loader first. Returns the bytes done; stops at the first
// range the kernel refuses (older kernels: EINVAL), which only means those pages copy on write later.
uint64_t copy_before_write(const GuestMemory& memory, std::span<const std::pair<uint64_t, uint64_t>> ranges);

}  // namespace thaw::memory
