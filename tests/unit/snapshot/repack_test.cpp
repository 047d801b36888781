// snapshot/repack: a snapshot re-encoded around its working set reads back the same pages, with
// the working set in lz4 at the front of one pack, the rest zstd with the pack's dictionary.
#include "snapshot/repack.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "base/error.h"
#include "snapshot/chunk_store.h"
#include "snapshot/file_io.h"
#include "snapshot/manifest.h"
#include "snapshot/page_store_reader.h"
#include "tests/unit/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::test {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kPpc = 8;

WriteOptions small_chunks(const fs::path& store = {}) {
  WriteOptions o;
  o.pages_per_chunk = kPpc;
  o.store_dir = store;
  return o;
}

std::vector<std::byte> read_all(const fs::path& dir) {
  auto r = PageStoreReader::open(dir);
  std::vector<std::byte> got(r->page_count() * kPage);
  r->read_all(got);
  return got;
}

uint64_t distinct_stored(const PageStoreReader& r) {
  std::set<std::pair<uint32_t, uint64_t>> seen;
  uint64_t n = 0;
  for (uint64_t c = 0; c < r.chunk_count(); ++c) {
    const auto& rec = r.chunk_record(c);
    if (rec.encoding != kEncodingNone && seen.emplace(rec.pack, rec.offset).second) n += rec.stored_bytes;
  }
  return n;
}

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(Repack, WorkingSetStaysLz4InFirstTouchOrderAndTheRestShrinks) {
  TempDir tmp;
  auto mem = make_memory(2048, 3, 1024, 64);
  GuestRegion region{0, mem};
  fs::path dir = tmp.path() / "snap";
  write_page_store(dir, std::span(&region, 1), small_chunks());
  uint64_t before = distinct_stored(*PageStoreReader::open(dir));
  auto kept_open = PageStoreReader::open(dir);

  std::vector<uint64_t> ws = {40, 3, 17, 200, 4};
  auto stats = repack_page_store(dir, ws);
  ASSERT_TRUE(stats.repacked);
  EXPECT_GT(stats.dictionary_bytes, 0u);
  EXPECT_EQ(read_all(dir), mem);

  auto r = PageStoreReader::open(dir);
  EXPECT_NE(r->manifest().page_index, "pages.idx");
  EXPECT_FALSE(fs::exists(dir / "pages.idx"));
  EXPECT_EQ(r->manifest().packs.size(), 1u);
  EXPECT_EQ(files_in(dir / "store" / "packs"), 2u) << "the old pack and its index are gone";
  EXPECT_LT(distinct_stored(*r), before);
  // The working set's objects lie back to back in first-touch order, right after the dictionary.
  uint64_t at = 0;
  for (uint64_t c : ws) {
    const auto& rec = r->chunk_record(c);
    if (rec.encoding == kEncodingNone) continue;
    EXPECT_TRUE(rec.encoding == kEncodingLz4 || rec.encoding == kEncodingRaw) << c;
    if (at) {
      EXPECT_EQ(rec.offset, at) << c;
    }
    at = rec.offset + rec.stored_bytes;
  }
  // Every other chunk is zstd (or raw), unless its content is a working-set chunk's: then it
  // shares that chunk's lz4 object (pages 1024..1087 repeat pages 0..63).
  std::set<std::pair<uint64_t, uint64_t>> hot;
  for (uint64_t c : ws) hot.emplace(r->chunk_record(c).hash_low, r->chunk_record(c).hash_high);
  unsigned zstd = 0;
  for (uint64_t c = 0; c < r->chunk_count(); ++c) {
    uint32_t e = r->chunk_record(c).encoding;
    if (!hot.count({r->chunk_record(c).hash_low, r->chunk_record(c).hash_high})) {
      EXPECT_NE(e, kEncodingLz4) << c;
    }
    zstd += e == kEncodingZstd;
  }
  EXPECT_GT(zstd, 100u);

  // A reader opened before still reads every page: it holds the old files open.
  std::vector<std::byte> got(mem.size());
  kept_open->read_all(got);
  EXPECT_EQ(got, mem);
  // A second repack finds nothing to do.
  EXPECT_FALSE(repack_page_store(dir, ws).repacked);
}

TEST(Repack, SharedStoreKeepsOtherSnapshotsAndLaterWritersReuseItsObjects) {
  TempDir tmp;
  fs::path store = tmp.path() / "store";
  auto mem = make_memory(1024, 8);
  GuestRegion region{0, mem};
  write_page_store(tmp.path() / "a", std::span(&region, 1), small_chunks(store));
  write_page_store(tmp.path() / "b", std::span(&region, 1), small_chunks(store));
  ASSERT_TRUE(repack_page_store(tmp.path() / "a", std::vector<uint64_t>{1, 2}).repacked);
  EXPECT_EQ(read_all(tmp.path() / "a"), mem);
  EXPECT_EQ(read_all(tmp.path() / "b"), mem) << "b's pack stays: only the store's collection removes packs";
  // Once b is gone, the store's collection keeps only a's new pack.
  fs::remove_all(tmp.path() / "b");
  std::set<std::string> referenced;
  for (const auto& p : read_manifest(tmp.path() / "a").packs) referenced.insert(p.name);
  EXPECT_EQ(remove_unreferenced_packs(store, referenced).packs_removed, 1u);
  EXPECT_EQ(read_all(tmp.path() / "a"), mem);
  // A later snapshot of the same pages reuses a's zstd objects, and decodes them with a's
  // dictionary, found through a's pack.
  auto stats = write_page_store(tmp.path() / "c", std::span(&region, 1), small_chunks(store));
  EXPECT_EQ(stats.stored_chunks, 0u);
  EXPECT_EQ(read_manifest(tmp.path() / "c").packs[0].name, *referenced.begin());
  EXPECT_EQ(read_all(tmp.path() / "c"), mem);
}

TEST(Repack, ChunksInPacksOtherSnapshotsUseStayThere) {
  TempDir tmp;
  fs::path store = tmp.path() / "store";
  auto a = make_memory(1024, 8);
  auto b = a;
  auto other = make_memory(512, 9);
  std::copy(other.begin(), other.end(), b.begin() + 512 * kPage);  // b's second half is its own
  GuestRegion ra{0, a}, rb{0, b};
  write_page_store(tmp.path() / "a", std::span(&ra, 1), small_chunks(store));
  write_page_store(tmp.path() / "b", std::span(&rb, 1), small_chunks(store));
  std::string a_pack = read_manifest(tmp.path() / "a").packs.at(0).name;
  RepackOptions o;
  o.shared_packs = {a_pack};
  auto stats = repack_page_store(tmp.path() / "b", std::vector<uint64_t>{70, 2}, o);
  ASSERT_TRUE(stats.repacked);
  EXPECT_GT(stats.kept_chunks, 0u);
  EXPECT_GT(stats.cold_chunks, 0u);
  auto packs = read_manifest(tmp.path() / "b").packs;
  ASSERT_EQ(packs.size(), 2u);
  EXPECT_EQ(packs[1].name, a_pack) << "b still shares a's pack";
  EXPECT_EQ(read_all(tmp.path() / "b"), b);
  EXPECT_EQ(read_all(tmp.path() / "a"), a);
}

TEST(Repack, ACorruptWorkingSetChunkIsNotCopiedOnAndTheSnapshotStaysAsItWas) {
  TempDir tmp;
  auto mem = make_memory(512, 7);
  GuestRegion region{0, mem};
  fs::path dir = tmp.path() / "snap";
  write_page_store(dir, std::span(&region, 1), small_chunks());
  const Manifest before = read_manifest(dir);
  uint64_t hot = 3;
  ChunkRecord rec = PageStoreReader::open(dir)->chunk_record(hot);
  ASSERT_EQ(rec.encoding, kEncodingLz4);
  {
    // Working-set chunks move to the new pack as they are stored, without a decode: the move
    // must still check them.
    std::fstream io(dir / "store" / "packs" / before.packs[rec.pack].name,
                    std::ios::binary | std::ios::in | std::ios::out);
    io.seekg(static_cast<std::streamoff>(rec.offset + rec.stored_bytes / 2));
    char b = 0;
    io.get(b);
    io.seekp(static_cast<std::streamoff>(rec.offset + rec.stored_bytes / 2));
    io.put(static_cast<char>(b ^ 0x40));
  }
  try {
    repack_page_store(dir, std::vector<uint64_t>{hot});
    FAIL() << "repacked a corrupt chunk";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chunk 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(serialize_manifest(read_manifest(dir)), serialize_manifest(before));
  EXPECT_TRUE(fs::exists(dir / "pages.idx"));
}

TEST(Repack, ABadPackDictionaryIsAClearError) {
  TempDir tmp;
  auto mem = make_memory(1024, 5);
  GuestRegion region{0, mem};
  fs::path dir = tmp.path() / "snap";
  write_page_store(dir, std::span(&region, 1), small_chunks());
  ASSERT_TRUE(repack_page_store(dir, std::vector<uint64_t>{0}).repacked);
  auto m = read_manifest(dir);
  fs::path pack = dir / "store" / "packs" / m.packs[0].name;
  PackHeader h{};
  {
    std::ifstream in(pack, std::ios::binary);
    in.read(reinterpret_cast<char*>(&h), sizeof h);
  }
  ASSERT_GT(h.dictionary_bytes, 0u);
  {
    std::fstream io(pack, std::ios::binary | std::ios::in | std::ios::out);
    io.seekp(static_cast<std::streamoff>(h.dictionary_offset));
    io.put('\0');  // the dictionary's magic number
  }
  try {
    PageStoreReader::open(dir);
    FAIL() << "opened a pack with a broken dictionary";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("bad dictionary"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(m.packs[0].name), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace thaw::snapshot::test
