// Where pages of page space live: bound runs of guest memory, walked one segment at a time.
#include "memory/page_space_map.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "base/error.h"
#include "memory/lazy_loader.h"

namespace thaw::memory {
namespace {

TEST(PageSpaceMap, WalksRunsSegmentBySegmentAndSkipsWhatIsNotBound) {
  RegionSpec regions[] = {{0, 16 * kPageSize}, {1 << 20, 16 * kPageSize}};
  auto mem = GuestMemory::create(regions);
  // Pages [0, 8) -> first region, [20, 36) -> second: pages 8..19 are bound nowhere.
  RegionBinding bindings[] = {{1 << 20, 20, 16}, {0, 0, 8}};
  PageSpaceMap map(mem, bindings, 40);
  ASSERT_EQ(map.segments().size(), 2u);
  EXPECT_EQ(map.segments()[0].first_page, 0u) << "sorted by first page";
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> runs;  // (guest address of the segment, p, q)
  map.for_each_run(4, 40, [&](const PageSpaceMap::Segment& s, uint64_t p, uint64_t q) { runs.emplace_back(s.guest_addr, p, q); });
  std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> expected{{0, 4, 8}, {1 << 20, 20, 36}};
  EXPECT_EQ(runs, expected);
  EXPECT_EQ(map.host_of(21), mem.host_address((1 << 20) + kPageSize));
  EXPECT_EQ(map.host_of(10), nullptr);
  EXPECT_EQ(map.guest_addr_of(3), 3 * kPageSize);
  EXPECT_EQ(map.page_of_host(reinterpret_cast<uintptr_t>(mem.host_address(1 << 20)) + 5), 20u);
  EXPECT_FALSE(map.page_of_host(reinterpret_cast<uintptr_t>(mem.host_address(9 * kPageSize))));
}

TEST(PageSpaceMap, RefusesBindingsThatDoNotFit) {
  auto mem = GuestMemory::create(16 * kPageSize);
  RegionBinding too_long[] = {{0, 0, 17}};
  EXPECT_THROW(PageSpaceMap(mem, too_long, 32), Error);
  RegionBinding past_source[] = {{0, 30, 4}};
  EXPECT_THROW(PageSpaceMap(mem, past_source, 32), Error);
  RegionBinding overlapping[] = {{0, 0, 8}, {8 * kPageSize, 4, 8}};
  EXPECT_THROW(PageSpaceMap(mem, overlapping, 32), Error);
  PageSpaceMap whole(mem, {}, 16);
  EXPECT_EQ(whole.segments().size(), 1u) << "no bindings: the regions in order from page 0";
}

}  // namespace
}  // namespace thaw::memory
