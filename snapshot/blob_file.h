#pragma once
// A small self-verifying binary file: FileHeader (magic, version) + payload length + xxh3-128
// of the payload, then the payload. Used by state blobs and the working-set file.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace thaw::snapshot {

// Written atomically (temp, fsync, rename).
void write_blob_file(const std::filesystem::path& file, const char (&magic)[8], std::span<const std::byte> payload);
// Throws thaw::Error naming the file if it is missing, truncated, too long, of another kind or
// version, or its checksum does not match.
std::vector<std::byte> read_blob_file(const std::filesystem::path& file, const char (&magic)[8], uint64_t max_payload);

}  // namespace thaw::snapshot
