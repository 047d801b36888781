#pragma once
// The working-set file (working_set.bin, next to the manifest): the chunk ids a restore touched,
// in first-touch order, for the next restores to prefetch. Versioned and checksummed; written
// atomically, so it can be saved (or replaced) after the snapshot itself.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

namespace thaw::snapshot {

void save_working_set(const std::filesystem::path& snapshot_dir, std::span<const uint64_t> chunks);
// nullopt if the snapshot has no working-set file; throws thaw::Error if it is corrupt.
std::optional<std::vector<uint64_t>> load_working_set(const std::filesystem::path& snapshot_dir);

}  // namespace thaw::snapshot
