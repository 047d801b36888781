#pragma once
// Small file helpers shared by the snapshot writers and readers: whole-file reads with a size
// cap, atomic replacement (temp file, fsync, rename, fsync of the directory), content hashes
// and the common binary file header check.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/atomic_file.h"  // write_file_atomic, fsync_directory
#include "snapshot/format.h"

namespace thaw::snapshot {

struct Hash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const Hash128&) const = default;
};

Hash128 hash128(std::span<const std::byte> bytes);
uint64_t hash64(std::span<const std::byte> bytes);
std::string to_hex(const Hash128& h);  // 32 lowercase hex digits, high word first
// Parses to_hex's output; throws thaw::Error naming `what` otherwise.
Hash128 hash_from_hex(std::string_view hex, std::string_view what);

// Reads the whole file. Throws thaw::Error if it is missing or larger than max_bytes,
// SystemError on other I/O failures.
std::vector<std::byte> read_whole_file(const std::filesystem::path& file, uint64_t max_bytes);

FileHeader make_file_header(const char (&magic)[8], uint32_t header_bytes);
// Throws thaw::Error naming `file` on a wrong magic, an unknown major version or a header
// size below `min_header_bytes`.
void check_file_header(const FileHeader& h, const char (&magic)[8], uint32_t min_header_bytes,
                       const std::filesystem::path& file);

template <typename T>
std::span<const std::byte> as_bytes_of(const T& v) {
  return std::as_bytes(std::span<const T>(&v, 1));
}

}  // namespace thaw::snapshot
