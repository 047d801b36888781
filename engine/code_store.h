#pragma once
// Function code, stored content-addressed: every version's code is a .zip under
// DATA/code/<sha256 hex>.zip, named by the sha256 of its bytes (Lambda's CodeSha256 is the
// base64 of the same digest), so versions that share code share the file. A directory is
// zipped deterministically (sorted entries, fixed timestamps, modes kept), so the same tree
// always gets the same CodeSha256.
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "thaw/function.h"

namespace thaw::engine {

// Lambda's limits for code given directly (not through S3).
inline constexpr uint64_t kMaxZipBytes = 50ull << 20;
inline constexpr uint64_t kMaxUnzippedBytes = 262'144'000;

struct StoredCode {
  std::string sha256_hex;
  std::string sha256_base64;
  uint64_t size = 0;  // bytes of the .zip
  uint64_t unzipped_size = 0;  // bytes of the files in it
};

std::string hex_to_base64(const std::string& hex);

class CodeStore {
 public:
  explicit CodeStore(std::filesystem::path dir);

  // Validates and stores the code (idempotent for identical bytes). Throws
  // EngineError(kInvalidParameter) for a missing or malformed source, an unsafe entry name, or
  // contents over 250 MB unzipped; kTooLarge for a .zip over 50 MB.
  StoredCode put(const FunctionCode& code);
  std::filesystem::path zip_path(const std::string& sha256_hex) const;
  bool contains(const std::string& sha256_hex) const;
  // The bytes of the files in the stored .zip (read from its directory).
  uint64_t unzipped_size(const std::string& sha256_hex) const;
  // Unpacks the code into `out_dir` (created; must not exist), keeping modes and symlinks.
  void extract(const std::string& sha256_hex, const std::filesystem::path& out_dir) const;
  // Deletes the stored code no record references any more; returns how many.
  unsigned remove_unreferenced(const std::set<std::string>& referenced_hex);

 private:
  StoredCode store_zip_file(const std::filesystem::path& zip, bool move);
  std::filesystem::path dir_;
};

}  // namespace thaw::engine
