#pragma once
// The content-addressed chunk store: a directory of pack files shared by any number of
// snapshots. Each write adds at most one new pack (packs/pack-<unique>.pack) holding the chunk
// objects no earlier pack had, and seals it with a pack index (packs/pack-<unique>.idx: the
// hash, place, lengths and checksum of each object). Later writers load every pack index to
// find chunks already stored, so identical chunks are stored once across snapshots. Packs are
// never modified after sealing; a pack without its index (crash mid-write) is ignored.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <span>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/unique_fd.h"
#include "snapshot/file_io.h"
#include "snapshot/format.h"

namespace thaw::snapshot {

struct Hash128Hasher {
  size_t operator()(const Hash128& h) const noexcept { return static_cast<size_t>(h.low ^ (h.high * 0x9e3779b97f4a7c15ull)); }
};

// Where an object already in the store lies.
struct StoredObject {
  uint32_t pack = 0;  // index into ExistingObjects::packs
  uint64_t offset = 0;
  uint32_t stored_bytes = 0;
  uint32_t raw_bytes = 0;
  uint32_t encoding = 0;
  uint64_t checksum = 0;
};

struct ExistingObjects {
  std::vector<std::string> packs;  // pack file names
  std::vector<uint64_t> pack_bytes;
  std::unordered_map<Hash128, StoredObject, Hash128Hasher> objects;
};

// Loads the index of every sealed pack under `store_dir`. Pack indexes that are corrupt or
// disagree with their pack are skipped with a warning (their chunks are simply stored again).
ExistingObjects load_existing_objects(const std::filesystem::path& store_dir);

// One new pack being written by several threads: space is reserved with an atomic counter and
// filled with pwrite, so threads append without a lock.
class PackWriter {
 public:
  explicit PackWriter(const std::filesystem::path& store_dir);
  ~PackWriter();  // removes the pack unless sealed
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  // Reserves `bytes` at the end of the pack; returns their offset.
  uint64_t reserve(uint64_t bytes) { return end_.fetch_add(bytes); }
  void write_at(uint64_t offset, std::span<const std::byte> bytes);
  // Stores the zstd dictionary that the pack's zstd objects use (at most one per pack).
  void write_dictionary(std::span<const std::byte> dictionary);
  // fsyncs the pack, then writes its index atomically. With no entries the pack is removed
  // instead and false is returned.
  bool seal(std::span<const PackEntry> entries);

  const std::string& name() const { return name_; }
  uint64_t bytes() const { return end_.load(); }

 private:
  std::filesystem::path dir_;
  std::string name_;  // "pack-<unique>.pack"
  UniqueFd fd_;
  std::atomic<uint64_t> end_{sizeof(PackHeader)};
  bool sealed_ = false;
};

std::filesystem::path pack_index_path(const std::filesystem::path& pack_file);

struct PackCollection {
  unsigned packs_removed = 0;
  uint64_t bytes_removed = 0;
};
// Deletes every pack of `store_dir` (with its index) whose name is not in `referenced` (the
// packs the store's snapshots list in their manifests), sealed or not: packs of deleted
// snapshots, and packs a crashed writer left without an index. The caller guarantees that no
// writer is active in the store (a writer's pack is referenced by no manifest until it is done).
PackCollection remove_unreferenced_packs(const std::filesystem::path& store_dir,
                                         const std::set<std::string>& referenced);

}  // namespace thaw::snapshot
