#pragma once
// Where each page of a PageSource's page space lives in the host: the bound runs ("segments")
// of guest memory, sorted by first page. Pages outside every segment are not bound (a source
// may hold more than the memory restores, or a binding may skip a hole); walks skip them.
// Immutable once built, so every loader thread reads it without locks.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "memory/guest_memory.h"

namespace thaw::memory {

struct RegionBinding;

class PageSpaceMap {
 public:
  struct Segment {
    uint64_t first_page = 0;
    uint64_t page_count = 0;
    uint64_t guest_addr = 0;
    std::byte* host = nullptr;
    uint64_t end_page() const { return first_page + page_count; }
    std::byte* host_of(uint64_t page) const { return host + (page - first_page) * kPageSize; }
    uint64_t bytes() const { return page_count * kPageSize; }
  };

  // Binds `bindings` of `memory` to pages of a space of `page_count` pages; an empty list binds
  // the memory's regions in order to consecutive pages from 0. Throws thaw::Error for a binding
  // outside the memory or the page space, on hugetlb pages, or two that share pages.
  PageSpaceMap(const GuestMemory& memory, std::span<const RegionBinding> bindings, uint64_t page_count);

  const std::vector<Segment>& segments() const { return segments_; }
  const Segment* segment_of_page(uint64_t page) const;
  // The page a host address falls in; nullopt outside every segment.
  std::optional<uint64_t> page_of_host(uintptr_t addr) const;
  std::byte* host_of(uint64_t page) const;  // nullptr when the page is not bound
  uint64_t guest_addr_of(uint64_t page) const;  // the page must be bound

  // Calls f(segment, p, q) for each bound run [p, q) of pages [first, end), in order: one call
  // per segment the range crosses. The one walk over page ranges every installer shares.
  template <typename F>
  void for_each_run(uint64_t first, uint64_t end, F&& f) const {
    for (uint64_t p = first; p < end;) {
      const Segment* s = segment_of_page(p);
      if (!s) {
        p = next_bound_page(p, end);
        continue;
      }
      uint64_t q = std::min(end, s->end_page());
      f(*s, p, q);
      p = q;
    }
  }

 private:
  // The first bound page in (page, end), or end.
  uint64_t next_bound_page(uint64_t page, uint64_t end) const;
  std::vector<Segment> segments_;
};

}  // namespace thaw::memory
