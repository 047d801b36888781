// Bad input never crashes and never passes: flipped bytes, truncation and missing files in every
// file of a snapshot give a thaw::Error naming the file.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "base/error.h"
#include "snapshot/format.h"
#include "snapshot/manifest.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"
#include "snapshot/state_blob.h"
#include "snapshot/working_set.h"
#include "tests/unit/snapshot/snapshot_fixture.h"

namespace thaw::snapshot {
namespace {

using test::kPage;
using test::make_memory;
using test::TempDir;
namespace fs = std::filesystem;

std::vector<char> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const fs::path& p, const std::vector<char>& d) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(d.data(), static_cast<std::streamsize>(d.size()));
}

class Corruption : public ::testing::Test {
 protected:
  void SetUp() override {
    memory_ = make_memory(48, 11);
    GuestRegion region{0x200000, memory_};
    dir_ = tmp_.path() / "snap";
    fs::create_directories(dir_);
    write_state_blob(dir_, "vcpu0", std::as_bytes(std::span("registers of vcpu 0")));
    WriteOptions opt;
    opt.pages_per_chunk = 8;
    opt.extra_files = {"vcpu0.state"};
    write_page_store(dir_, std::span(&region, 1), opt);
    std::vector<uint64_t> ws = {3, 1, 4};
    save_working_set(dir_, ws);
    pack_ = PageStoreReader::open(dir_)->manifest().packs.at(0).name;
  }

  fs::path pack_file() const { return dir_ / "store" / "packs" / pack_; }

  // Opens the snapshot and reads all of it, its working set and its state blob.
  void load_everything() const {
    auto r = PageStoreReader::open(dir_);
    std::vector<std::byte> out(r->page_count() * kPage);
    r->read_all(out);
    if (std::memcmp(out.data(), memory_.data(), memory_.size()) != 0) throw std::logic_error("wrong data returned");
    auto ws = load_working_set(dir_);
    if (!ws || *ws != std::vector<uint64_t>{3, 1, 4}) throw std::logic_error("wrong working set returned");
    auto blob = read_state_blob(dir_, "vcpu0");
    if (blob.size() != 20) throw std::logic_error("wrong blob returned");
  }

  // Expects a thaw::Error whose message names `file`.
  void expect_error(const fs::path& file, const std::string& what) const {
    try {
      load_everything();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(file.filename().string()), std::string::npos) << what << ": " << e.what();
      return;
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": not a thaw::Error: " << e.what();
      return;
    }
    ADD_FAILURE() << what << ": accepted";
  }

  std::vector<fs::path> all_files() const {
    return {dir_ / "manifest.json", dir_ / "pages.idx", pack_file(), dir_ / "working_set.bin", dir_ / "vcpu0.state"};
  }

  TempDir tmp_;
  std::vector<std::byte> memory_;
  fs::path dir_;
  std::string pack_;
};

TEST_F(Corruption, IntactSnapshotLoads) { EXPECT_NO_THROW(load_everything()); }

TEST_F(Corruption, EveryFlippedByteIsCaught) {
  for (const auto& file : all_files()) {
    auto orig = slurp(file);
    ASSERT_FALSE(orig.empty()) << file;
    bool binary = file.filename() != "manifest.json";
    // Every header byte, then about 80 positions spread over the rest (keeps the test fast).
    size_t stride = std::max<size_t>(1, orig.size() / 80);
    for (size_t i = 0; i < orig.size(); i += (i < 128 ? 1 : stride)) {
      // The minor version of a binary file is allowed to differ (a newer minor only adds).
      if (binary && (i == 10 || i == 11)) continue;
      auto bad = orig;
      bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
      spit(file, bad);
      expect_error(file, file.filename().string() + " byte " + std::to_string(i));
      if (HasFailure()) break;
    }
    spit(file, orig);
  }
  EXPECT_NO_THROW(load_everything());
}

TEST_F(Corruption, EveryTruncationIsCaught) {
  for (const auto& file : all_files()) {
    auto orig = slurp(file);
    for (size_t len : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, orig.size() / 2, orig.size() - 8, orig.size() - 1}) {
      if (len >= orig.size()) continue;
      spit(file, std::vector<char>(orig.begin(), orig.begin() + static_cast<std::ptrdiff_t>(len)));
      expect_error(file, file.filename().string() + " truncated to " + std::to_string(len));
    }
    auto longer = orig;
    longer.push_back('x');
    spit(file, longer);
    expect_error(file, file.filename().string() + " with a byte appended");
    spit(file, orig);
  }
  EXPECT_NO_THROW(load_everything());
}

TEST_F(Corruption, EveryMissingFileIsCaught) {
  for (const auto& file : all_files()) {
    auto orig = slurp(file);
    fs::remove(file);
    if (file.filename() == "working_set.bin") {
      EXPECT_FALSE(load_working_set(dir_).has_value());  // optional: absent is not an error
    } else {
      expect_error(file, file.filename().string() + " missing");
    }
    spit(file, orig);
  }
  fs::remove_all(dir_ / "store");
  expect_error(pack_file(), "store missing");
}

// Rewrites the manifest with a valid checksum after `edit`: errors must come from the checks
// behind the checksum.
void rewrite_manifest(const fs::path& dir, const std::function<void(Manifest&)>& edit) {
  Manifest m = read_manifest(dir);
  edit(m);
  std::string text = serialize_manifest(m);
  std::ofstream(dir / "manifest.json", std::ios::trunc) << text;
}

std::string open_error(const fs::path& dir) {
  try {
    PageStoreReader::open(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(Corruption, UnknownMajorVersionIsRefused) {
  rewrite_manifest(dir_, [](Manifest& m) {
    m.format_major = 2;
    m.format_minor = 0;
  });
  auto e = open_error(dir_);
  EXPECT_NE(e.find("unsupported snapshot format version 2.0"), std::string::npos) << e;
  EXPECT_NE(e.find("manifest.json"), std::string::npos) << e;
}

TEST_F(Corruption, NewerMinorVersionIsAccepted) {
  rewrite_manifest(dir_, [](Manifest& m) { m.format_minor = 7; });
  EXPECT_NO_THROW(load_everything());
}

TEST_F(Corruption, WrongPageSizeIsRefused) {
  rewrite_manifest(dir_, [](Manifest& m) { m.page_size = 8192; });
  auto e = open_error(dir_);
  EXPECT_NE(e.find("wrong page size 8192"), std::string::npos) << e;
}

TEST_F(Corruption, IndexPointingOutsideItsPackIsRefused) {
  // Move one chunk's offset past the end of its pack, then re-list the index so its checksum holds.
  auto idx = slurp(dir_ / "pages.idx");
  size_t words = (48 + 63) / 64;
  size_t rec0 = sizeof(PageIndexHeader) + words * 8;
  ChunkRecord rec;
  std::memcpy(&rec, idx.data() + rec0, sizeof rec);
  rec.offset = 1ull << 40;
  std::memcpy(idx.data() + rec0, &rec, sizeof rec);
  spit(dir_ / "pages.idx", idx);
  rewrite_manifest(dir_, [&](Manifest& m) { m.files["pages.idx"] = describe_file(dir_ / "pages.idx"); });
  auto e = open_error(dir_);
  EXPECT_NE(e.find("pages.idx: chunk 0: points outside its pack"), std::string::npos) << e;
}

TEST_F(Corruption, LayoutDisagreeingWithIndexIsRefused) {
  rewrite_manifest(dir_, [](Manifest& m) {
    m.page_count += 8;
    m.chunk_count += 1;
  });
  auto e = open_error(dir_);
  EXPECT_NE(e.find("page layout differs from the manifest"), std::string::npos) << e;
}

TEST(StateBlob, RoundTripsAndValidatesNames) {
  TempDir tmp;
  std::vector<std::byte> payload(1000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(i * 7);
  write_state_blob(tmp.path(), "vm", payload);
  EXPECT_TRUE(read_state_blob(tmp.path(), "vm") == payload);
  write_state_blob(tmp.path(), "empty", {});
  EXPECT_TRUE(read_state_blob(tmp.path(), "empty").empty());
  EXPECT_THROW(write_state_blob(tmp.path(), "../escape", payload), Error);
  EXPECT_THROW(read_state_blob(tmp.path(), "absent"), Error);
}

TEST(WorkingSet, RoundTripsAndIsOptional) {
  TempDir tmp;
  EXPECT_FALSE(load_working_set(tmp.path()).has_value());
  std::vector<uint64_t> ws = {9, 2, 7, 0};
  save_working_set(tmp.path(), ws);
  EXPECT_EQ(*load_working_set(tmp.path()), ws);
  save_working_set(tmp.path(), {});
  EXPECT_TRUE(load_working_set(tmp.path())->empty());
}

TEST(WrittenPages, RoundTripAndRefuseRangesThatAreNotWholePages) {
  TempDir tmp;
  EXPECT_FALSE(load_written_ranges(tmp.path()).has_value());
  GuestRanges ranges = {{0x1000, 0x3000}, {0x100000, 0x1000}};
  save_written_ranges(tmp.path(), ranges);
  EXPECT_EQ(*load_written_ranges(tmp.path()), ranges);
  save_written_ranges(tmp.path(), {{0x1000, 0}});
  EXPECT_THROW(load_written_ranges(tmp.path()), Error);
  save_written_ranges(tmp.path(), {{0x1234, 0x1000}});
  EXPECT_THROW(load_written_ranges(tmp.path()), Error);
  save_written_ranges(tmp.path(), {{~0xfffull, 0x2000}});  // wraps around
  EXPECT_THROW(load_written_ranges(tmp.path()), Error);
}

}  // namespace
}  // namespace thaw::snapshot
