#pragma once
// Function code, stored content-addressed: every version's code is a .zip under
// DATA/code/<sha256 hex>.zip, named by the sha256 of its bytes (Lambda's CodeSha256 is the
// base64 of the same digest), so versions that share code share the file. A directory is
// zipped deterministically (sorted entries, fixed timestamps, modes kept), so the same tree
// always gets the same CodeSha256.
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "thaw/function.h"

namespace thaw::engine {

// Lambda's limits for code given directly (not through S3).
inline constexpr uint64_t kMaxZipBytes = 50ull << 20;
inline constexpr uint64_t kMaxUnzippedBytes = 262'144'000;

class CodeStore;

// Keeps one stored .zip from being removed while it is held. CodeStore::put runs outside the
// engine's lock (zipping a tree takes a while), so between storing code and saving the record
// that names it, no record references the file: a delete of another function or layer with
// the same content would remove it then. The pin closes that window; drop it once the record
// is saved (or given up).
class CodePin {
 public:
  CodePin() = default;
  CodePin(CodePin&& o) noexcept;
  CodePin& operator=(CodePin&& o) noexcept;
  ~CodePin() { release(); }
  void release() noexcept;

 private:
  friend class CodeStore;
  CodePin(CodeStore* store, std::string hex) : store_(store), hex_(std::move(hex)) {}
  CodeStore* store_ = nullptr;
  std::string hex_;
};

struct StoredCode {
  CodePin pin;  // held until the caller drops it
  std::string sha256_hex;
  std::string sha256_base64;
  uint64_t size = 0;  // bytes of the .zip
  uint64_t unzipped_size = 0;  // bytes of the files in it
};

std::string hex_to_base64(const std::string& hex);

class CodeStore {
 public:
  explicit CodeStore(std::filesystem::path dir);

  // Validates and stores the code (idempotent for identical bytes), pinned. Throws
  // EngineError(kInvalidParameter) for a missing or malformed source, an unsafe entry name, or
  // contents over 250 MB unzipped; kTooLarge for a .zip over 50 MB.
  StoredCode put(const FunctionCode& code);
  std::filesystem::path zip_path(const std::string& sha256_hex) const;
  bool contains(const std::string& sha256_hex) const;
  // The bytes of the files in the stored .zip (read from its directory).
  uint64_t unzipped_size(const std::string& sha256_hex) const;
  // Unpacks the code into `out_dir` (created; must not exist), keeping modes and symlinks.
  void extract(const std::string& sha256_hex, const std::filesystem::path& out_dir) const;
  // Deletes the stored code no record references any more and nothing pins; returns how many.
  unsigned remove_unreferenced(const std::set<std::string>& referenced_hex);
  // Deletes one stored .zip (a record that named it went) unless it is pinned.
  void remove_unless_pinned(const std::string& sha256_hex);

 private:
  friend class CodePin;
  StoredCode store_zip_file(const std::filesystem::path& zip, bool move);
  CodePin pin(const std::string& hex);  // with mu_ held
  void unpin(const std::string& hex) noexcept;

  std::filesystem::path dir_;
  std::mutex mu_;  // a .zip's arrival, its removal and pins_ are atomic to each other
  std::map<std::string, unsigned> pins_;
};

}  // namespace thaw::engine
