#pragma once
// A chunk of guest memory that could not be loaded (read error, checksum mismatch, bad
// encoding). The loader tells its owner through a FailureCallback and releases the faulting
// thread with SIGBUS instead of installing anything.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace thaw::memory {

// LoadFailure::chunk when the loader itself failed (it can no longer read its userfaultfd):
// every page not loaded yet has failed, host_address is null.
inline constexpr uint64_t kAllChunks = ~uint64_t{0};

struct LoadFailure {
  std::byte* host_address = nullptr;  // the faulting page (or first page of the chunk)
  uint64_t guest_addr = 0;            // the same page as a guest-physical address
  uint64_t chunk = 0;                 // page-source chunk that failed, or kAllChunks
  std::string cause;                  // the error's message
};

// Called on a loader thread: keep it short and never touch the guest memory from it.
using FailureCallback = std::function<void(const LoadFailure&)>;

}  // namespace thaw::memory
