#pragma once
// The working-set file (working_set.bin, next to the manifest): the chunk ids a restore touched,
// in first-touch order, for the next restores to prefetch. Versioned and checksummed; written
// atomically, so it can be saved (or replaced) after the snapshot itself.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace thaw::snapshot {

void save_working_set(const std::filesystem::path& snapshot_dir, std::span<const uint64_t> chunks);
// nullopt if the snapshot has no working-set file; throws thaw::Error if it is corrupt.
std::optional<std::vector<uint64_t>> load_working_set(const std::filesystem::path& snapshot_dir);

// written_pages.bin: the guest-physical ranges (address, bytes) that the first clone to map the
// snapshot's shared copy wrote by the end of its first invocation, for later clones to copy
// before they resume (memory/private_writes.h). Same blob format as the working set; load
// throws thaw::Error if it is corrupt or a range is not a non-empty run of whole pages.
using GuestRanges = std::vector<std::pair<uint64_t, uint64_t>>;
void save_written_ranges(const std::filesystem::path& snapshot_dir, const GuestRanges& ranges);
std::optional<GuestRanges> load_written_ranges(const std::filesystem::path& snapshot_dir);

}  // namespace thaw::snapshot
