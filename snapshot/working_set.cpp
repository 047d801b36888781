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

void save_written_ranges(const std::filesystem::path& snapshot_dir, const GuestRanges& ranges) {
  std::vector<uint64_t> flat;
  for (const auto& [gpa, bytes] : ranges) {
    flat.push_back(gpa);
    flat.push_back(bytes);
  }
  write_blob_file(snapshot_dir / kWrittenPagesName, kWrittenPagesMagic, std::as_bytes(std::span(flat)));
}

std::optional<GuestRanges> load_written_ranges(const std::filesystem::path& snapshot_dir) {
  auto file = snapshot_dir / kWrittenPagesName;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  auto payload = read_blob_file(file, kWrittenPagesMagic, 1ull << 32);
  if (payload.size() % (2 * sizeof(uint64_t)) != 0)
    throw Error(file.string() + ": payload is not a list of (address, bytes) pairs");
  std::vector<uint64_t> flat(payload.size() / sizeof(uint64_t));
  if (!flat.empty()) std::memcpy(flat.data(), payload.data(), payload.size());
  GuestRanges ranges;
  for (size_t i = 0; i < flat.size(); i += 2) {
    const uint64_t gpa = flat[i], bytes = flat[i + 1];
    if (bytes == 0 || gpa % 4096 != 0 || bytes % 4096 != 0 || gpa + bytes < gpa)
      throw Error(file.string() + ": range " + std::to_string(i / 2) + " is not a run of whole pages");
    ranges.emplace_back(gpa, bytes);
  }
  return ranges;
}

}  // namespace thaw::snapshot
