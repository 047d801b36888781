#include "memory/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "base/error.h"
#include "base/log.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21 << 26)
#endif

namespace thaw::memory {
namespace {

std::string hex(uint64_t v) { return fmt::format("{:#x}", v); }

void validate(std::span<const RegionSpec> specs) {
  if (specs.empty()) throw Error("guest memory: no regions");
  std::vector<RegionSpec> sorted(specs.begin(), specs.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.guest_addr < b.guest_addr; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    const RegionSpec& r = sorted[i];
    if (r.size == 0) throw Error("guest memory: empty region at " + hex(r.guest_addr));
    if (r.guest_addr % kPageSize || r.size % kPageSize)
      throw Error("guest memory: region " + hex(r.guest_addr) + "+" + hex(r.size) + " is not page-aligned");
    if (r.guest_addr + r.size < r.guest_addr) throw Error("guest memory: region " + hex(r.guest_addr) + " wraps");
    if (i > 0 && sorted[i - 1].guest_addr + sorted[i - 1].size > r.guest_addr)
      throw Error("guest memory: regions at " + hex(sorted[i - 1].guest_addr) + " and " + hex(r.guest_addr) +
                  " overlap");
  }
}

// Maps one region; returns the page size actually used. Hugetlb mappings reserve their pages
// at mmap time (no MAP_NORESERVE), so an empty pool fails here instead of SIGBUS later.
size_t map_region(const RegionSpec& spec, const GuestMemoryOptions& opt, bool huge, Mapping& mapping, UniqueFd& memfd) {
  size_t size = static_cast<size_t>(spec.size);
  if (opt.backing == Backing::memfd) {
    unsigned flags = MFD_CLOEXEC | (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0u);
    UniqueFd fd(::memfd_create(opt.name.c_str(), flags));
    if (!fd) {
      if (huge) return 0;
      throw_errno("memfd_create", opt.name);
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) {
      if (huge) return 0;
      throw_errno("ftruncate", opt.name);
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | (huge ? 0 : MAP_NORESERVE), fd.get(), 0);
    if (p == MAP_FAILED) {
      if (huge) return 0;
      throw_errno("mmap", opt.name + ", " + std::to_string(size) + " bytes");
    }
    mapping = Mapping(p, size);
    memfd = std::move(fd);
  } else {
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (huge ? MAP_HUGETLB | MAP_HUGE_2MB : MAP_NORESERVE);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) {
      if (huge) return 0;
      throw_errno("mmap", "guest memory, " + std::to_string(size) + " bytes");
    }
    mapping = Mapping(p, size);
  }
  return huge ? kHugePageSize : kPageSize;
}

}  // namespace

GuestMemory GuestMemory::create(uint64_t size, const GuestMemoryOptions& options) {
  RegionSpec spec{0, size};
  return create(std::span<const RegionSpec>(&spec, 1), options);
}

GuestMemory GuestMemory::create(std::span<const RegionSpec> specs, const GuestMemoryOptions& options) {
  validate(specs);
  GuestMemory gm;
  for (const RegionSpec& spec : specs) {
    Mapping mapping;
    UniqueFd memfd;
    size_t page_size = 0;
    if (options.huge_pages) {
      if (spec.guest_addr % kHugePageSize || spec.size % kHugePageSize) {
        spdlog::warn("guest memory: region {}+{} is not 2 MiB-aligned; using 4 KiB pages", hex(spec.guest_addr),
                     hex(spec.size));
      } else {
        page_size = map_region(spec, options, true, mapping, memfd);
        if (page_size == 0)
          spdlog::warn(
              "guest memory: no free 2 MiB hugetlb pages for {} MiB (see vm.nr_hugepages): using 4 KiB pages with "
              "transparent huge pages",
              spec.size >> 20);
      }
    }
    if (page_size == 0) {
      page_size = map_region(spec, options, false, mapping, memfd);
      if (options.huge_pages) ::madvise(mapping.data(), mapping.size(), MADV_HUGEPAGE);  // best effort
    }
    MemoryRegion r;
    r.slot = static_cast<uint32_t>(gm.regions_.size());
    r.guest_addr = spec.guest_addr;
    r.size = spec.size;
    r.host = mapping.data();
    r.memfd = memfd.get();
    r.page_size = page_size;
    gm.regions_.push_back(r);
    gm.mappings_.push_back(std::move(mapping));
    gm.memfds_.push_back(std::move(memfd));
  }
  return gm;
}

uint64_t GuestMemory::total_size() const {
  uint64_t total = 0;
  for (auto& r : regions_) total += r.size;
  return total;
}

const MemoryRegion* GuestMemory::find(uint64_t gpa) const {
  for (auto& r : regions_)
    if (r.contains(gpa)) return &r;
  return nullptr;
}

std::byte* GuestMemory::host_address(uint64_t gpa, uint64_t len) const {
  const MemoryRegion* r = find(gpa);
  if (!r || len > r->size - (gpa - r->guest_addr))
    throw Error("guest memory: " + hex(gpa) + "+" + hex(len) + " is outside guest RAM");
  return r->host + (gpa - r->guest_addr);
}

}  // namespace thaw::memory
