#include "snapshot/working_set.h"

#include <cstring>

#include "base/error.h"
#include "snapshot/blob_file.h"
#include "snapshot/format.h"

namespace thaw::snapshot {

void save_working_set(const std::filesystem::path& snapshot_dir, std::span<const uint64_t> chunks) {
  write_blob_file(snapshot_dir / kWorkingSetName, kWorkingSetMagic, std::as_bytes(chunks));
}

std::optional<std::vector<uint64_t>> load_working_set(const std::filesystem::path& snapshot_dir) {
  auto file = snapshot_dir / kWorkingSetName;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  auto payload = read_blob_file(file, kWorkingSetMagic, 1ull << 32);
  if (payload.size() % sizeof(uint64_t) != 0) throw Error(file.string() + ": payload is not a list of chunk ids");
  std::vector<uint64_t> chunks(payload.size() / sizeof(uint64_t));
  if (!chunks.empty()) std::memcpy(chunks.data(), payload.data(), payload.size());
  return chunks;
}

}  // namespace thaw::snapshot
