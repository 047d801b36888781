#pragma once
// Opens a snapshot's page store, verifies it, and serves its pages: as a memory::PageSource
// (for the lazy loader) and directly (read a chunk, a page, or everything). Opening checks the
// manifest (format version, checksum, layout), every file it lists (size, xxh3-128), the page
// index against the manifest, every chunk record against the zero bitmap and its pack's size,
// and every pack's header. Chunks are verified (xxh3-64 of the stored bytes) each time they
// are decoded. Any inconsistency is a thaw::Error naming the file and what is wrong.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "base/unique_fd.h"
#include "memory/io_uring_reader.h"
#include "memory/page_source.h"
#include "snapshot/chunk_codec.h"
#include "snapshot/format.h"
#include "snapshot/manifest.h"

namespace thaw::snapshot {

class PageStoreReader final : public memory::PageSource {
 public:
  // Reads the manifest again, once, if the snapshot was repacked while it opened (repack.h).
  static std::unique_ptr<PageStoreReader> open(const std::filesystem::path& snapshot_dir);

  const Manifest& manifest() const { return manifest_; }
  const std::vector<RegionLayout>& regions() const { return manifest_.regions; }
  const ChunkRecord& chunk_record(uint64_t chunk) const { return records_.at(chunk); }

  size_t page_size() const override { return kPageSize; }
  uint64_t page_count() const override { return manifest_.page_count; }
  uint32_t pages_per_chunk() const override { return manifest_.pages_per_chunk; }
  bool page_is_zero(uint64_t page) const override;
  std::optional<memory::ChunkExtent> chunk_extent(uint64_t chunk) const override;
  void decode_chunk(uint64_t chunk, std::span<const std::byte> stored, std::span<std::byte> out) const override;

  // out.size() must be chunk_bytes(chunk). Reads with io_uring, verifies, decodes.
  // Thread-safe (serialised on one ring); throws thaw::Error on bad data.
  void read_chunk(uint64_t chunk, std::span<std::byte> out);
  // out.size() must be page_size().
  void read_page(uint64_t page, std::span<std::byte> out);
  // Decodes the whole page space into out (page_count() * page_size() bytes): one thread per
  // core, each with its own ring keeping up to queue_depth reads in flight and decoding chunks
  // as their reads complete.
  void read_all(std::span<std::byte> out, unsigned queue_depth = 64);

 private:
  PageStoreReader() = default;
  static std::unique_ptr<PageStoreReader> open_with(const std::filesystem::path& snapshot_dir, Manifest manifest);
  [[noreturn]] void chunk_error(uint64_t chunk, const std::string& what) const;

  std::filesystem::path dir_;
  Manifest manifest_;
  std::vector<uint64_t> zero_bitmap_;
  std::vector<ChunkRecord> records_;
  std::vector<std::filesystem::path> pack_paths_;
  std::vector<UniqueFd> pack_fds_;
  std::vector<uint32_t> pack_header_bytes_;
  std::vector<std::unique_ptr<ZstdDecodingDictionary>> pack_dictionaries_;  // null: the pack has none
  uint32_t max_stored_bytes_ = 0;
  std::mutex ring_mutex_;
  std::unique_ptr<memory::IoUringReader> ring_;  // for read_chunk/read_page, made on first use
};

}  // namespace thaw::snapshot
