#pragma once
// Page stores for the memory tests and benchmarks, written and read by snapshot/'s real page
// store (memory/ itself never sees snapshot/).
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "memory/lazy_loader.h"
#include "memory/page_source.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"

namespace thaw::memory::test {

struct TestStore {
  std::unique_ptr<PageSource> source;
  std::vector<RegionBinding> bindings;
};

// Writes `image` (guest memory at guest address 0) as a page store in snapshot dir `dir`
// and opens it.
inline TestStore write_store(const std::filesystem::path& dir, std::span<const std::byte> image,
                             uint32_t pages_per_chunk = 16) {
  snapshot::GuestRegion region{0, image};
  snapshot::WriteOptions opt;
  opt.pages_per_chunk = pages_per_chunk;
  snapshot::write_page_store(dir, std::span<const snapshot::GuestRegion>(&region, 1), opt);
  auto reader = snapshot::PageStoreReader::open(dir);
  TestStore t;
  for (auto& r : reader->regions()) t.bindings.push_back({r.guest_addr, r.first_page, r.page_count});
  t.source = std::move(reader);
  return t;
}

}  // namespace thaw::memory::test
