#pragma once
// Guest RAM: page-aligned host mappings, one per guest-physical region, suitable for
// KVM_SET_USER_MEMORY_REGION (slot, guest_addr, size, host). Anonymous private memory by
// default; memfd-backed (shareable, one memfd per region) as an option; 2 MiB hugetlb pages as
// an option where the host's pool allows, else 4 KiB pages with a warning (never silently).
// Owns its mappings and memfds.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/mapping.h"
#include "base/unique_fd.h"

namespace thaw::memory {

inline constexpr size_t kPageSize = 4096;
inline constexpr size_t kHugePageSize = 2 * 1024 * 1024;

enum class Backing { anonymous, memfd };

struct GuestMemoryOptions {
  Backing backing = Backing::anonymous;
  bool huge_pages = false;  // 2 MiB hugetlb pages if the host has them free
  std::string name = "thaw-guest";  // memfd name (shows in /proc/<pid>/maps)
};

// What to create: `size` bytes of guest-physical memory at `guest_addr` (both page-aligned).
struct RegionSpec {
  uint64_t guest_addr = 0;
  uint64_t size = 0;
};

// One created region. `slot` is its index, usable as the KVM memory slot number.
struct MemoryRegion {
  uint32_t slot = 0;
  uint64_t guest_addr = 0;
  uint64_t size = 0;
  std::byte* host = nullptr;
  int memfd = -1;           // -1 for anonymous memory
  size_t page_size = kPageSize;  // kHugePageSize when hugetlb pages back it

  std::span<std::byte> bytes() const { return {host, static_cast<size_t>(size)}; }
  bool contains(uint64_t gpa) const { return gpa >= guest_addr && gpa - guest_addr < size; }
};

class GuestMemory {
 public:
  // Throws thaw::Error on a bad layout (unaligned, empty, overlapping) and SystemError if
  // the memory cannot be mapped.
  static GuestMemory create(std::span<const RegionSpec> regions, const GuestMemoryOptions& options = {});
  // One region of `size` bytes at guest address 0.
  static GuestMemory create(uint64_t size, const GuestMemoryOptions& options = {});

  GuestMemory(GuestMemory&&) noexcept = default;
  GuestMemory& operator=(GuestMemory&&) noexcept = default;

  const std::vector<MemoryRegion>& regions() const { return regions_; }
  uint64_t total_size() const;
  // The region holding guest address `gpa`, or nullptr.
  const MemoryRegion* find(uint64_t gpa) const;
  // Host pointer for [gpa, gpa+len), which must lie inside one region; throws thaw::Error otherwise.
  std::byte* host_address(uint64_t gpa, uint64_t len = 1) const;

 private:
  GuestMemory() = default;
  std::vector<MemoryRegion> regions_;
  std::vector<Mapping> mappings_;
  std::vector<UniqueFd> memfds_;
};

}  // namespace thaw::memory
