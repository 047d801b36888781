#pragma once
// State blobs: named binary files of a snapshot (vCPU registers, VM and device state) stored as
// <dir>/<name>.state with a magic, a format version, the payload length and its xxh3-128.
// List a blob in the manifest by passing "<name>.state" in WriteOptions::extra_files.
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace thaw::snapshot {

// The file a blob is stored in. Throws thaw::Error unless `name` is [A-Za-z0-9_.-]+.
std::string state_blob_file_name(std::string_view name);
void write_state_blob(const std::filesystem::path& snapshot_dir, std::string_view name, std::span<const std::byte> bytes);
// Throws thaw::Error if the blob is missing, truncated, of an unknown version or corrupt.
std::vector<std::byte> read_state_blob(const std::filesystem::path& snapshot_dir, std::string_view name);

}  // namespace thaw::snapshot
