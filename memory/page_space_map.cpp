#include "memory/page_space_map.h"

#include <algorithm>

#include "base/error.h"
#include "base/log.h"
#include "memory/lazy_loader.h"

namespace thaw::memory {

PageSpaceMap::PageSpaceMap(const GuestMemory& memory, std::span<const RegionBinding> bindings, uint64_t page_count) {
  std::vector<RegionBinding> bound(bindings.begin(), bindings.end());
  if (bound.empty()) {
    uint64_t next = 0;
    for (auto& r : memory.regions()) {
      bound.push_back({r.guest_addr, next, r.size / kPageSize});
      next += r.size / kPageSize;
    }
  }
  for (auto& b : bound) {
    if (b.page_count == 0) continue;
    const MemoryRegion* r = memory.find(b.guest_addr);
    if (!r || b.page_count > (r->size - (b.guest_addr - r->guest_addr)) / kPageSize || b.guest_addr % kPageSize)
      throw Error(fmt::format("lazy loader: binding {:#x}+{} pages is outside guest memory", b.guest_addr, b.page_count));
    if (r->page_size != kPageSize)
      throw Error("lazy loader: hugetlb-backed guest memory cannot be restored lazily; use 4 KiB pages");
    if (b.first_page > page_count || b.page_count > page_count - b.first_page)
      throw Error(fmt::format("lazy loader: binding {:#x} wants pages [{}, {}) but the source has {}", b.guest_addr,
                              b.first_page, b.first_page + b.page_count, page_count));
    segments_.push_back({b.first_page, b.page_count, b.guest_addr, memory.host_address(b.guest_addr)});
  }
  std::sort(segments_.begin(), segments_.end(), [](auto& a, auto& b) { return a.first_page < b.first_page; });
  for (size_t i = 1; i < segments_.size(); ++i)
    if (segments_[i - 1].end_page() > segments_[i].first_page)
      throw Error("lazy loader: two bindings share source pages");
}

const PageSpaceMap::Segment* PageSpaceMap::segment_of_page(uint64_t page) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), page,
                             [](uint64_t p, const Segment& s) { return p < s.first_page; });
  if (it == segments_.begin()) return nullptr;
  --it;
  return page - it->first_page < it->page_count ? &*it : nullptr;
}

std::optional<uint64_t> PageSpaceMap::page_of_host(uintptr_t addr) const {
  for (const auto& s : segments_) {
    auto base = reinterpret_cast<uintptr_t>(s.host);
    if (addr >= base && addr - base < s.bytes()) return s.first_page + (addr - base) / kPageSize;
  }
  return std::nullopt;
}

std::byte* PageSpaceMap::host_of(uint64_t page) const {
  const Segment* s = segment_of_page(page);
  return s ? s->host_of(page) : nullptr;
}

uint64_t PageSpaceMap::guest_addr_of(uint64_t page) const {
  const Segment* s = segment_of_page(page);
  return s->guest_addr + (page - s->first_page) * kPageSize;
}

uint64_t PageSpaceMap::next_bound_page(uint64_t page, uint64_t end) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), page,
                             [](uint64_t p, const Segment& s) { return p < s.first_page; });
  return it == segments_.end() ? end : std::min(end, it->first_page);
}

}  // namespace thaw::memory
