#pragma once
// Re-encodes a snapshot's page store once its working set is known (the first restore records
// it). The working set's chunks stay lz4, which decodes fastest, and move to the front of a new
// pack in first-touch order, so a restore reads them as one sequential run; every other chunk
// is re-encoded with zstd and a dictionary trained on them, which stores them about a third
// smaller than lz4 (bench/bench_page_store.cpp, PageStoreRepack).
//
// Nothing is modified in place: the new pack is sealed and the new page index
// (pages-<unique>.idx) written before the manifest is replaced atomically. Then the superseded
// index is removed, and in a store of the snapshot's own so are the packs it no longer uses; a
// shared store's are left to its collection (chunk_store.h, remove_unreferenced_packs). A
// reader that read the manifest just before finds its files gone and rereads it
// (PageStoreReader::open). Only one repack of a snapshot may run at a time, and not at the same
// time as a collection of its store.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <set>
#include <span>
#include <string>

namespace thaw::snapshot {

struct RepackOptions {
  int zstd_level = 15;                // measured: the smallest level past which store_ratio stops falling
  size_t dictionary_bytes = 110 * 1024;  // zstd's own default dictionary size
  unsigned threads = 0;               // 0 = all cores
  // Checked between chunks: once true, the repack gives up (thaw::Error) and changes nothing.
  const std::atomic<bool>* stop = nullptr;
  // Packs of a shared store that other snapshots use: they stay on disk anyway, so the chunks
  // this snapshot has in them keep their objects there (copying them would store them twice).
  std::set<std::string> shared_packs;
};

struct RepackStats {
  bool repacked = false;  // false: nothing to do (no cold chunk left in lz4)
  uint64_t hot_chunks = 0, cold_chunks = 0;  // objects written to the new pack, lz4 and zstd
  uint64_t kept_chunks = 0;                  // objects left in shared packs
  uint64_t bytes_before = 0;  // stored bytes of the distinct objects the snapshot used
  uint64_t bytes_after = 0;   // the same after, its dictionary included
  uint64_t dictionary_bytes = 0;
  double seconds = 0;
};

// `hot_chunks`: the working set, in first-touch order (ids past the page space are ignored).
// Throws thaw::Error for a snapshot that does not verify, SystemError on I/O failure; the
// snapshot is then unchanged.
RepackStats repack_page_store(const std::filesystem::path& snapshot_dir, std::span<const uint64_t> hot_chunks,
                              const RepackOptions& options = {});

}  // namespace thaw::snapshot
