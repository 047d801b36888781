#include "snapshot/store_sharing.h"

#include <map>
#include <utility>

#include "snapshot/format.h"
#include "snapshot/page_store_reader.h"

namespace thaw::snapshot {
namespace {

using ChunkKey = std::pair<uint64_t, uint64_t>;  // the content address (xxh3-128)

struct ChunkUse {
  uint64_t stored_bytes = 0;
  unsigned snapshots = 0;
};

// The distinct stored chunks of one snapshot and their sizes.
std::map<ChunkKey, uint64_t> chunks_of(const std::filesystem::path& dir) {
  auto reader = PageStoreReader::open(dir);
  std::map<ChunkKey, uint64_t> chunks;
  for (uint64_t c = 0; c < reader->manifest().chunk_count; ++c) {
    const auto& rec = reader->chunk_record(c);
    if (rec.encoding == kEncodingNone) continue;  // all zero: nothing stored
    chunks.emplace(ChunkKey{rec.hash_low, rec.hash_high}, rec.stored_bytes);
  }
  return chunks;
}

}  // namespace

StoreSharing measure_sharing(std::span<const std::filesystem::path> snapshot_dirs) {
  std::vector<std::map<ChunkKey, uint64_t>> per;
  std::map<ChunkKey, ChunkUse> uses;
  for (const auto& dir : snapshot_dirs) {
    per.push_back(chunks_of(dir));
    for (const auto& [key, bytes] : per.back()) {
      auto& u = uses[key];
      u.stored_bytes = bytes;
      ++u.snapshots;
    }
  }
  StoreSharing out;
  for (const auto& [key, u] : uses) {
    out.stored_bytes += u.stored_bytes;
    (u.snapshots > 1 ? out.shared_bytes : out.unique_bytes) += u.stored_bytes;
    out.referenced_bytes += u.stored_bytes * u.snapshots;
  }
  for (size_t i = 0; i < per.size(); ++i) {
    SnapshotSharing s;
    s.dir = snapshot_dirs[i];
    for (const auto& [key, bytes] : per[i]) {
      s.referenced_bytes += bytes;
      (uses[key].snapshots > 1 ? s.shared_bytes : s.unique_bytes) += bytes;
    }
    out.snapshots.push_back(std::move(s));
  }
  return out;
}

}  // namespace thaw::snapshot
