#pragma once
// How the snapshots of one chunk store share it. Chunks are content-addressed, so two snapshots
// that hold the same pages (a kernel, a runtime, its libraries) reference one stored chunk: the
// store's bytes split into those only one snapshot references and those several share.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace thaw::snapshot {

struct SnapshotSharing {
  std::filesystem::path dir;
  uint64_t referenced_bytes = 0;  // stored bytes of the chunks it references (each once)
  uint64_t unique_bytes = 0;      // of those, referenced by no other snapshot given
  uint64_t shared_bytes = 0;      // referenced by at least one other too
};

struct StoreSharing {
  uint64_t stored_bytes = 0;  // distinct chunks any of them references
  uint64_t unique_bytes = 0;  // chunks exactly one of them references
  uint64_t shared_bytes = 0;  // chunks two or more reference (stored once)
  uint64_t referenced_bytes = 0;  // what they would take if each stored its own chunks
  std::vector<SnapshotSharing> snapshots;
};

// Reads each snapshot's manifest and page index (not its chunks). Throws thaw::Error for a
// snapshot that cannot be read; callers that tolerate one leave it out first.
StoreSharing measure_sharing(std::span<const std::filesystem::path> snapshot_dirs);

}  // namespace thaw::snapshot
