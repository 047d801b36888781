// One decoded copy of a snapshot's memory shared by its clones: the second clone reads and
// decodes nothing and copies nothing, a clone's writes stay its own, and a clone in another
// process maps the same pages.
#include "memory/shared_image.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "base/error.h"
#include "base/process_memory.h"
#include "memory/lazy_loader.h"
#include "tests/native/memory/test_image.h"
#include "tests/native/memory/test_store.h"

namespace thaw::memory {
namespace {

using test::kPage;
using test::page_matches;
constexpr uint64_t kPages = 8192;  // 32 MiB

struct SharedImageTest : ::testing::Test {
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("thaw-shared-image-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    image_bytes = test::make_image(kPages);
    store = test::write_store(dir, image_bytes.bytes());
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  SharedImage make_image() { return SharedImage::create(source().page_count(), source().pages_per_chunk(), "test"); }
  const PageSource& source() { return *store.source; }
  LazyLoaderOptions sharing(SharedImage& image) {
    LazyLoaderOptions o;
    o.shared_image = &image;
    return o;
  }
  bool all_match(const GuestMemory& mem) {
    for (uint64_t p = 0; p < kPages; ++p)
      if (!page_matches(mem.host_address(p * kPage), p)) return false;
    return true;
  }

  std::filesystem::path dir;
  Mapping image_bytes;
  test::TestStore store;
};

TEST_F(SharedImageTest, TheSecondCloneMapsWhatTheFirstDecoded) {
  SharedImage image = make_image();
  GuestMemory a = GuestMemory::create(kPages * kPage);
  LazyLoader la(a, source(), store.bindings, sharing(image));
  ASSERT_TRUE(all_match(a));
  RestoreStats first = la.stats();
  EXPECT_GT(first.bytes_read, 0u);
  EXPECT_EQ(first.bytes_installed, 0u) << "nothing is copied into a clone: its pages are the image's";
  EXPECT_GT(first.bytes_mapped, 0u);
  EXPECT_EQ(image.filled_chunks(), first.chunks_on_demand);

  auto before = process_memory(::getpid());
  GuestMemory b = GuestMemory::create(kPages * kPage);
  LazyLoader lb(b, source(), store.bindings, sharing(image));
  ASSERT_TRUE(all_match(b));
  RestoreStats second = lb.stats();
  EXPECT_EQ(second.bytes_read, 0u) << "every chunk was in the image already";
  EXPECT_EQ(second.chunks_on_demand, 0u);
  EXPECT_EQ(second.chunks_from_image, first.chunks_on_demand);
  EXPECT_EQ(second.bytes_installed, 0u);
  auto after = process_memory(::getpid());
  // The second clone's pages are the first one's: its restore adds (almost) nothing.
  EXPECT_LT(after.pss_bytes, before.pss_bytes + kPages * kPage / 8)
      << "PSS " << (before.pss_bytes >> 20) << " -> " << (after.pss_bytes >> 20) << " MiB";
}

TEST_F(SharedImageTest, AClonesWritesStayItsOwn) {
  SharedImage image = make_image();
  GuestMemory a = GuestMemory::create(kPages * kPage);
  GuestMemory b = GuestMemory::create(kPages * kPage);
  LazyLoader la(a, source(), store.bindings, sharing(image));
  LazyLoader lb(b, source(), store.bindings, sharing(image));
  uint64_t page = 1;
  ASSERT_FALSE(test::original_is_zero(page));
  ASSERT_TRUE(page_matches(a.host_address(page * kPage), page));
  ASSERT_TRUE(page_matches(b.host_address(page * kPage), page));
  std::memset(a.host_address(page * kPage), 0xab, 64);
  EXPECT_TRUE(page_matches(b.host_address(page * kPage), page)) << "the other clone's page is untouched";
  std::byte in_image[kPage];
  ASSERT_EQ(::pread(image.data_fd(), in_image, kPage, page * kPage), ssize_t(kPage));
  EXPECT_TRUE(page_matches(in_image, page)) << "the image is untouched";
  // A zero page written in one clone stays zero in the other.
  uint64_t zero = 3 * 16;
  ASSERT_TRUE(test::original_is_zero(zero));
  *reinterpret_cast<volatile char*>(b.host_address(zero * kPage)) = 7;
  EXPECT_EQ(*reinterpret_cast<volatile char*>(a.host_address(zero * kPage)), 0);
}

TEST_F(SharedImageTest, ACloneInAnotherProcessAttachesAndReadsNothing) {
  SharedImage image = make_image();
  {
    GuestMemory a = GuestMemory::create(kPages * kPage);
    LazyLoader la(a, source(), store.bindings, sharing(image));
    la.load_all();
  }
  EXPECT_EQ(image.filled_chunks(), 3 * source().chunk_count() / 4) << "every chunk but the all-zero ones";
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int rc = 0;
    try {
      SharedImage mine = SharedImage::attach(image.data_fd(), image.index_fd(), image.page_count(),
                                             source().pages_per_chunk());
      GuestMemory c = GuestMemory::create(kPages * kPage);
      LazyLoader lc(c, source(), store.bindings, sharing(mine));
      if (!all_match(c)) rc = 2;
      else if (lc.stats().bytes_read != 0) rc = 3;
    } catch (const std::exception&) {
      rc = 4;
    }
    ::_exit(rc);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: wrong content, 3: read from the store, 4: an error";
}

TEST_F(SharedImageTest, AttachRefusesFilesOfAnotherShape) {
  SharedImage image = make_image();
  EXPECT_THROW(SharedImage::attach(image.data_fd(), image.index_fd(), image.page_count() - 16,
                                   source().pages_per_chunk()),
               Error);
  EXPECT_THROW(SharedImage::attach(image.index_fd(), image.data_fd(), image.page_count(), source().pages_per_chunk()),
               Error);
}

}  // namespace
}  // namespace thaw::memory
