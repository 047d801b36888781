#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "base/error.h"
#include "snapshot/chunk_store.h"
#include "snapshot/manifest.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"
#include "tests/unit/snapshot/snapshot_fixture.h"

namespace thaw::snapshot {
namespace {

using test::kPage;
using test::make_memory;
using test::TempDir;
namespace fs = std::filesystem;

// Expected page space content: regions at their first_page, zeros elsewhere.
std::vector<std::byte> expected_space(const PageStoreReader& r, std::span<const GuestRegion> regions) {
  std::vector<std::byte> want(r.page_count() * kPage);
  for (size_t i = 0; i < regions.size(); ++i)
    std::memcpy(want.data() + r.regions()[i].first_page * kPage, regions[i].bytes.data(), regions[i].bytes.size());
  return want;
}

uint64_t count_zero_pages(std::span<const std::byte> m) {
  uint64_t n = 0;
  std::vector<std::byte> zero(kPage);
  for (size_t off = 0; off < m.size(); off += kPage) n += std::memcmp(m.data() + off, zero.data(), kPage) == 0;
  return n;
}

TEST(PageStore, RoundTripsSeveralRegions) {
  TempDir tmp;
  auto a = make_memory(100, 1, 48, 32);  // pages 48..79 repeat 0..31: two chunks deduplicated
  auto b = make_memory(37, 2);
  std::vector<std::byte> c(8 * kPage);  // all zero
  std::vector<GuestRegion> regions = {{0x100000, a}, {0x7f0000000000, b}, {0x40000000, c}};
  WriteOptions opt;
  opt.pages_per_chunk = 16;
  opt.threads = 2;
  auto stats = write_page_store(tmp.path() / "snap", regions, opt);
  EXPECT_EQ(stats.pages, 145u);
  EXPECT_EQ(stats.zero_pages, count_zero_pages(a) + count_zero_pages(b) + 8);
  EXPECT_EQ(stats.raw_bytes, 145u * kPage);
  EXPECT_EQ(stats.dedupe_hits, 2u);
  EXPECT_EQ(stats.stored_chunks + stats.dedupe_hits, stats.chunks);
  EXPECT_GT(stats.stored_bytes, 0u);
  EXPECT_LT(stats.stored_bytes, (stats.pages - stats.zero_pages) * kPage);

  auto r = PageStoreReader::open(tmp.path() / "snap");
  ASSERT_EQ(r->regions().size(), 3u);
  EXPECT_EQ(r->regions()[0], (RegionLayout{0x100000, 0, 100}));
  EXPECT_EQ(r->regions()[1], (RegionLayout{0x7f0000000000, 112, 37}));  // starts on a chunk boundary
  EXPECT_EQ(r->regions()[2], (RegionLayout{0x40000000, 160, 8}));
  EXPECT_EQ(r->page_count(), 168u);
  EXPECT_EQ(r->page_size(), kPage);
  EXPECT_EQ(r->pages_per_chunk(), 16u);

  auto want = expected_space(*r, regions);
  std::vector<std::byte> got(want.size(), std::byte{0x5a});
  r->read_all(got, 4);
  EXPECT_TRUE(got == want);

  for (uint64_t p = 0; p < r->page_count(); ++p) {
    bool zero = std::all_of(want.begin() + p * kPage, want.begin() + (p + 1) * kPage, [](std::byte x) { return x == std::byte{0}; });
    EXPECT_EQ(r->page_is_zero(p), zero) << p;
    std::vector<std::byte> page(kPage, std::byte{1});
    r->read_page(p, page);
    EXPECT_EQ(std::memcmp(page.data(), want.data() + p * kPage, kPage), 0) << p;
  }
  // The last chunk is the zero region: not stored.
  EXPECT_FALSE(r->chunk_extent(r->chunk_count() - 1).has_value());
}

TEST(PageStore, PageSourceInterfaceDecodesWhatExtentPointsAt) {
  TempDir tmp;
  auto a = make_memory(70, 3);
  GuestRegion region{0, a};
  WriteOptions opt;
  opt.pages_per_chunk = 8;
  write_page_store(tmp.path() / "s", std::span(&region, 1), opt);
  auto r = PageStoreReader::open(tmp.path() / "s");
  const memory::PageSource& src = *r;
  EXPECT_EQ(src.chunk_count(), 9u);
  EXPECT_EQ(src.chunk_bytes(8), 6 * kPage);
  for (uint64_t c = 0; c < src.chunk_count(); ++c) {
    std::vector<std::byte> out(src.chunk_bytes(c), std::byte{7});
    auto ext = src.chunk_extent(c);
    ASSERT_TRUE(ext);
    std::vector<std::byte> stored(ext->length);
    ASSERT_EQ(::pread(ext->fd, stored.data(), stored.size(), static_cast<off_t>(ext->offset)),
              static_cast<ssize_t>(stored.size()));
    src.decode_chunk(c, stored, out);
    EXPECT_EQ(std::memcmp(out.data(), a.data() + c * 8 * kPage, out.size()), 0) << c;
    stored[stored.size() / 2] ^= std::byte{1};
    EXPECT_THROW(src.decode_chunk(c, stored, out), memory::PageSourceError);
  }
}

TEST(PageStore, IncompressibleChunksAreStoredRaw) {
  TempDir tmp;
  std::vector<std::byte> m(32 * kPage);
  std::mt19937_64 rng(9);
  for (size_t i = 0; i < m.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(m.data() + i, &v, 8);
  }
  GuestRegion region{0x1000, m};
  write_page_store(tmp.path() / "s", std::span(&region, 1));
  auto r = PageStoreReader::open(tmp.path() / "s");
  EXPECT_EQ(r->chunk_record(0).encoding, kEncodingRaw);
  std::vector<std::byte> got(m.size());
  r->read_all(got);
  EXPECT_TRUE(got == m);
}

TEST(PageStore, WorkingSetChunksAreLz4AndTheRestZstd) {
  TempDir tmp;
  auto a = make_memory(64, 5);
  GuestRegion region{0, a};
  WriteOptions opt;
  opt.pages_per_chunk = 8;
  opt.cold_codec = Codec::kZstd;
  opt.hot_chunks = {6, 1};
  auto two = write_page_store(tmp.path() / "two", std::span(&region, 1), opt);
  auto r = PageStoreReader::open(tmp.path() / "two");
  for (uint64_t c = 0; c < r->chunk_count(); ++c) {
    uint32_t e = r->chunk_record(c).encoding;
    if (e == kEncodingNone || e == kEncodingRaw) continue;
    EXPECT_EQ(e, c == 1 || c == 6 ? kEncodingLz4 : kEncodingZstd) << c;
  }
  std::vector<std::byte> got(a.size());
  r->read_all(got);
  EXPECT_TRUE(got == a);
  // zstd stores the same pages in fewer bytes than lz4 alone.
  WriteOptions lz4_only;
  lz4_only.pages_per_chunk = 8;
  auto one = write_page_store(tmp.path() / "one", std::span(&region, 1), lz4_only);
  EXPECT_LT(two.stored_bytes, one.stored_bytes);
}

TEST(PageStore, SharedStoreDeduplicatesAcrossSnapshots) {
  TempDir tmp;
  fs::path store = tmp.path() / "store";
  auto a = make_memory(128, 4);
  auto b = a;
  for (size_t i = 0; i < 16 * kPage; ++i) b[64 * kPage + i] = std::byte{static_cast<unsigned char>(i * 31)};
  GuestRegion ra{0, a}, rb{0, b};
  WriteOptions opt;
  opt.store_dir = store;
  auto s1 = write_page_store(tmp.path() / "one", std::span(&ra, 1), opt);
  auto s2 = write_page_store(tmp.path() / "two", std::span(&rb, 1), opt);
  EXPECT_EQ(s2.chunks, s1.chunks);
  EXPECT_EQ(s2.stored_chunks, 1u);  // only the changed chunk is new
  EXPECT_EQ(s2.dedupe_hits, s2.chunks - 1);
  auto s3 = write_page_store(tmp.path() / "three", std::span(&ra, 1), opt);
  EXPECT_EQ(s3.stored_chunks, 0u);
  EXPECT_EQ(s3.stored_bytes, 0u);

  for (auto [name, mem] : {std::pair{"one", &a}, std::pair{"two", &b}, std::pair{"three", &a}}) {
    auto r = PageStoreReader::open(tmp.path() / name);
    std::vector<std::byte> got(r->page_count() * kPage);
    r->read_all(got);
    EXPECT_TRUE(got == *mem) << name;
  }
  EXPECT_FALSE(fs::exists(tmp.path() / "three" / "store"));
}

TEST(PageStore, RejectsBadRegionsAndOptions) {
  TempDir tmp;
  std::vector<std::byte> m(4 * kPage);
  GuestRegion unaligned{0x1001, m};
  EXPECT_THROW(write_page_store(tmp.path() / "a", std::span(&unaligned, 1)), Error);
  GuestRegion odd{0, std::span<const std::byte>(m).first(100)};
  EXPECT_THROW(write_page_store(tmp.path() / "b", std::span(&odd, 1)), Error);
  std::vector<GuestRegion> overlap = {{0, m}, {2 * kPage, m}};
  EXPECT_THROW(write_page_store(tmp.path() / "c", overlap), Error);
  GuestRegion ok{0, m};
  WriteOptions zero_ppc;
  zero_ppc.pages_per_chunk = 0;
  EXPECT_THROW(write_page_store(tmp.path() / "d", std::span(&ok, 1), zero_ppc), Error);
  write_page_store(tmp.path() / "e", std::span(&ok, 1));
  EXPECT_THROW(write_page_store(tmp.path() / "e", std::span(&ok, 1)), Error);  // already a snapshot
}

TEST(PageStore, ManifestListsExtraFilesAndMetadata) {
  TempDir tmp;
  fs::path dir = tmp.path() / "s";
  fs::create_directories(dir);
  { std::ofstream(dir / "vcpu.state") << "registers"; }
  auto m = make_memory(20, 5);
  GuestRegion region{0, m};
  WriteOptions opt;
  opt.extra_files = {"vcpu.state"};
  opt.metadata = {{"vcpus", 2}};
  write_page_store(dir, std::span(&region, 1), opt);
  auto r = PageStoreReader::open(dir);
  EXPECT_EQ(r->manifest().files.count("vcpu.state"), 1u);
  EXPECT_EQ(r->manifest().metadata.at("vcpus"), 2);
  { std::ofstream(dir / "vcpu.state") << "registerz"; }
  try {
    PageStoreReader::open(dir);
    FAIL() << "edited file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vcpu.state: checksum mismatch"), std::string::npos) << e.what();
  }
}

TEST(PageStore, EmptyStoreWhenAllZero) {
  TempDir tmp;
  std::vector<std::byte> m(40 * kPage);
  GuestRegion region{0, m};
  auto s = write_page_store(tmp.path() / "s", std::span(&region, 1));
  EXPECT_EQ(s.zero_pages, 40u);
  EXPECT_EQ(s.chunks, 0u);
  EXPECT_EQ(s.stored_bytes, 0u);
  auto r = PageStoreReader::open(tmp.path() / "s");
  EXPECT_TRUE(r->manifest().packs.empty());
  std::vector<std::byte> got(m.size(), std::byte{3});
  r->read_all(got);
  EXPECT_TRUE(got == m);
}

}  // namespace
}  // namespace thaw::snapshot
