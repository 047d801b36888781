#pragma once
// Writes guest memory into a snapshot directory as a page store: zero pages go into a bitmap
// and are never stored; the rest is cut into chunks of pages_per_chunk guest-contiguous pages,
// each chunk's non-zero pages compressed independently (lz4 or zstd, see chunk_codec.h) and
// named by their xxh3-128, so
// identical chunks are stored once (also across snapshots sharing a store_dir). Work is spread
// over threads that each hold one chunk of scratch and a small output buffer: memory stays
// bounded and guest memory is never copied whole. The manifest is written last, atomically.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/chunk_codec.h"

namespace thaw::snapshot {

// A guest memory region to save: page-aligned, size a multiple of 4 KiB.
struct GuestRegion {
  uint64_t guest_addr;
  std::span<const std::byte> bytes;
};

struct WriteOptions {
  // 16 pages (64 KiB): measured best on python3 memory (bench/bench_page_store.cpp).
  uint32_t pages_per_chunk = 16;
  unsigned threads = 0;             // 0 = all cores
  std::filesystem::path store_dir;  // shared content-addressed chunk store; empty = inside the snapshot dir
  int lz4_acceleration = 1;         // LZ4_compress_fast acceleration (1 = LZ4's default)
  // Chunks of the working set (the chunks a restore installs before it resumes) are stored with
  // lz4, which decodes fastest; the others with `cold_codec`. Without a working set given, every
  // chunk is stored with `cold_codec`.
  std::vector<uint64_t> hot_chunks;
  Codec cold_codec = Codec::kLz4;
  int zstd_level = 3;  // measured with bench/bench_page_store.cpp (PageStoreWriteZstd)
  // Files already in the snapshot directory (e.g. state blobs) to list in the manifest with
  // their checksums, and free-form fields for the manifest's "metadata".
  std::vector<std::string> extra_files;
  nlohmann::json metadata = nlohmann::json::object();
};

struct WriteStats {
  uint64_t pages = 0, zero_pages = 0, chunks = 0, stored_chunks = 0, dedupe_hits = 0, raw_bytes = 0,
           stored_bytes = 0;
  double seconds = 0;
};

// Creates `snapshot_dir` if needed; refuses one that already holds a manifest. Regions must be
// page-aligned, non-empty and non-overlapping; each starts on a chunk boundary of page space
// (the pages skipped to get there are zero padding), so a chunk never spans two regions.
// Throws thaw::Error on bad regions, SystemError on I/O failure.
WriteStats write_page_store(const std::filesystem::path& snapshot_dir, std::span<const GuestRegion> regions,
                            const WriteOptions& options = {});

}  // namespace thaw::snapshot
