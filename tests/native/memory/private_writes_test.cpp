// memory/private_writes: pagemap tells the pages a process copied (written) from those it still
// shares with a file, the zero page and pages never touched; and copying ahead makes them so.
#include "memory/private_writes.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "base/unique_fd.h"

namespace thaw::memory {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = 0x100000;

using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

TEST(PrivateWrites, OnlyPagesWrittenOverAPrivateFileMappingOrAnonymousMemoryCount) {
  auto mem = GuestMemory::create(std::vector<RegionSpec>{{kBase, 16 * kPage}});
  std::byte* host = mem.host_address(kBase, 16 * kPage);
  // Pages 8..15 map a file privately, as a clone maps a snapshot's shared copy.
  UniqueFd fd(::memfd_create("private-writes-test", MFD_CLOEXEC));
  ASSERT_TRUE(fd);
  ASSERT_EQ(::ftruncate(fd.get(), 8 * kPage), 0);
  std::vector<char> page(kPage, 'x');
  for (int i = 0; i < 8; ++i) ASSERT_EQ(::pwrite(fd.get(), page.data(), kPage, i * kPage), static_cast<ssize_t>(kPage));
  ASSERT_NE(::mmap(host + 8 * kPage, 8 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd.get(), 0),
            MAP_FAILED);

  volatile std::byte sink{};
  // (An anonymous page only read is left out: kernels that have no zero page, as some guests'
  // do, give it a page of its own, which then counts.)
  host[1 * kPage] = std::byte{1};       // anonymous, written
  host[3 * kPage + 7] = std::byte{1};   // anonymous, written
  host[4 * kPage] = std::byte{1};       // anonymous, written (joins 3)
  sink = host[9 * kPage];               // the file's page, read: still shared
  host[10 * kPage] = std::byte{1};      // the file's page, written: now a private copy
  (void)sink;
  Ranges want{{kBase + 1 * kPage, kPage}, {kBase + 3 * kPage, 2 * kPage}, {kBase + 10 * kPage, kPage}};
  EXPECT_EQ(privately_written_ranges(mem), want);
}

TEST(PrivateWrites, CopyingAheadMakesThePagesPrivateWithTheirContent) {
  auto mem = GuestMemory::create(std::vector<RegionSpec>{{kBase, 8 * kPage}});
  std::byte* host = mem.host_address(kBase, 8 * kPage);
  UniqueFd fd(::memfd_create("private-writes-test", MFD_CLOEXEC));
  ASSERT_TRUE(fd);
  ASSERT_EQ(::ftruncate(fd.get(), 8 * kPage), 0);
  std::vector<char> page(kPage, 'y');
  for (int i = 0; i < 8; ++i) ASSERT_EQ(::pwrite(fd.get(), page.data(), kPage, i * kPage), static_cast<ssize_t>(kPage));
  ASSERT_NE(::mmap(host, 8 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd.get(), 0), MAP_FAILED);

  Ranges ahead{{kBase + 2 * kPage, 3 * kPage}, {kBase + 64 * kPage, kPage}};  // the second is not this memory's
  uint64_t done = copy_before_write(mem, ahead);
  if (done == 0) GTEST_SKIP() << "this kernel has no MADV_POPULATE_WRITE (Linux 5.14+)";
  EXPECT_EQ(done, 3 * kPage);
  EXPECT_EQ(privately_written_ranges(mem), (Ranges{{kBase + 2 * kPage, 3 * kPage}}));
  EXPECT_EQ(static_cast<char>(host[3 * kPage + 5]), 'y') << "the copies hold the file's bytes";
}

}  // namespace
}  // namespace thaw::memory
