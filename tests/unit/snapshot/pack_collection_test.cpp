// The shared chunk store's garbage collection: packs no manifest refers to (a deleted
// snapshot's, one a crashed writer left without an index) are removed; the others stay readable.
#include <gtest/gtest.h>

#include <fstream>

#include "snapshot/chunk_store.h"
#include "snapshot/manifest.h"
#include "snapshot/page_store_reader.h"
#include "tests/unit/snapshot/snapshot_fixture.h"

namespace thaw::snapshot {
namespace {
namespace fs = std::filesystem;

std::set<std::string> packs_of(const fs::path& snapshot) {
  std::set<std::string> names;
  for (const auto& p : read_manifest(snapshot).packs) names.insert(p.name);
  return names;
}

size_t pack_files(const fs::path& store) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(store / "packs")) n += e.path().extension() == ".pack";
  return n;
}

TEST(PackCollection, UnreferencedAndUnsealedPacksGoAndTheRestStayReadable) {
  test::TempDir dir;
  auto store = dir.path() / "chunks";
  auto a_mem = test::make_memory(256, 1), b_mem = test::make_memory(256, 2);
  WriteOptions o;
  o.store_dir = store;
  GuestRegion a{0, a_mem}, b{0, b_mem};
  write_page_store(dir.path() / "a", std::span(&a, 1), o);
  write_page_store(dir.path() / "b", std::span(&b, 1), o);
  ASSERT_EQ(pack_files(store), 2u);
  // A crashed writer's pack: data, no index.
  std::ofstream(store / "packs" / "pack-0000000000000000-deadbeefdeadbeef.pack") << "half a pack";

  // b is deleted: only a's packs are referenced.
  fs::remove_all(dir.path() / "b");
  auto got = remove_unreferenced_packs(store, packs_of(dir.path() / "a"));
  EXPECT_EQ(got.packs_removed, 2u);
  EXPECT_EQ(pack_files(store), 1u);
  for (const auto& e : fs::directory_iterator(store / "packs")) {
    auto stem = e.path().stem().string();
    EXPECT_TRUE(packs_of(dir.path() / "a").count(stem + ".pack")) << "left: " << e.path();
  }
  auto reader = PageStoreReader::open(dir.path() / "a");
  std::vector<std::byte> all(a_mem.size());
  reader->read_all(all);
  EXPECT_EQ(all, a_mem);
}

}  // namespace
}  // namespace thaw::snapshot
