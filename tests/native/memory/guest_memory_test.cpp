// GuestMemory: layouts, backings and the huge-page fallback.
#include "memory/guest_memory.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <memory>
#include <sstream>

#include "base/error.h"

namespace thaw::memory {
namespace {

// What the default logger writes while this lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_level(spdlog::level::warn);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(GuestMemory, RegionsKeepTheirLayout) {
  RegionSpec specs[] = {{0, 64 << 20}, {1ULL << 32, 16 << 20}};
  GuestMemory mem = GuestMemory::create(specs);
  ASSERT_EQ(mem.regions().size(), 2u);
  EXPECT_EQ(mem.total_size(), 80u << 20);
  for (uint32_t i = 0; i < 2; ++i) {
    const MemoryRegion& r = mem.regions()[i];
    EXPECT_EQ(r.slot, i);
    EXPECT_EQ(r.guest_addr, specs[i].guest_addr);
    EXPECT_EQ(r.size, specs[i].size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r.host) % kPageSize, 0u);
    EXPECT_EQ(r.memfd, -1);
    EXPECT_EQ(r.page_size, kPageSize);
  }
  std::byte* p = mem.host_address((1ULL << 32) + 4096, 8);
  EXPECT_EQ(p, mem.regions()[1].host + 4096);
  *p = std::byte{1};
  EXPECT_EQ(mem.regions()[1].host[4096], std::byte{1});
  EXPECT_EQ(mem.find(64 << 20), nullptr);
  EXPECT_THROW(mem.host_address(64 << 20), Error);
  EXPECT_THROW(mem.host_address((64 << 20) - 4, 8), Error);
}

TEST(GuestMemory, RejectsBadLayouts) {
  RegionSpec unaligned[] = {{100, 4096}};
  EXPECT_THROW(GuestMemory::create(unaligned), Error);
  RegionSpec empty[] = {{0, 0}};
  EXPECT_THROW(GuestMemory::create(empty), Error);
  RegionSpec overlap[] = {{0, 8192}, {4096, 8192}};
  EXPECT_THROW(GuestMemory::create(overlap), Error);
  EXPECT_THROW(GuestMemory::create(std::span<const RegionSpec>{}), Error);
}

TEST(GuestMemory, MemfdBackingIsSharedWithTheFd) {
  GuestMemoryOptions opt;
  opt.backing = Backing::memfd;
  GuestMemory mem = GuestMemory::create(1 << 20, opt);
  const MemoryRegion& r = mem.regions()[0];
  ASSERT_GE(r.memfd, 0);
  r.host[8192] = std::byte{42};
  std::byte b{};
  ASSERT_EQ(::pread(r.memfd, &b, 1, 8192), 1);
  EXPECT_EQ(b, std::byte{42});
}

TEST(GuestMemory, HugePagesOrAnAnnouncedFallback) {
  GuestMemoryOptions opt;
  opt.huge_pages = true;
  for (Backing backing : {Backing::anonymous, Backing::memfd}) {
    opt.backing = backing;
    LogCapture log;
    GuestMemory mem = GuestMemory::create(4 << 20, opt);
    const MemoryRegion& r = mem.regions()[0];
    // 2 MiB pages where the host's hugetlb pool has them; else 4 KiB pages, and a warning says so.
    if (r.page_size == kPageSize) {
      EXPECT_NE(log.text().find("no free 2 MiB hugetlb pages for 4 MiB"), std::string::npos) << log.text();
    } else {
      EXPECT_EQ(r.page_size, kHugePageSize);
      EXPECT_EQ(log.text().find("hugetlb"), std::string::npos) << "no fallback, no warning: " << log.text();
    }
    r.host[(4 << 20) - 1] = std::byte{9};
    EXPECT_EQ(r.host[(4 << 20) - 1], std::byte{9});
  }
  // Not 2 MiB-aligned: always 4 KiB pages, announced.
  LogCapture log;
  GuestMemory odd = GuestMemory::create(3 << 20, opt);
  EXPECT_EQ(odd.regions()[0].page_size, kPageSize);
  EXPECT_NE(log.text().find("is not 2 MiB-aligned; using 4 KiB pages"), std::string::npos) << log.text();
}

}  // namespace
}  // namespace thaw::memory
