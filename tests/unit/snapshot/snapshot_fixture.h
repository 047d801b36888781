#pragma once
// Test helpers for snapshot/: deterministic guest memory with the shapes the page store cares
// about (zero pages, partly zero chunks, duplicate chunks, incompressible pages) and a temp dir.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "snapshot/page_store_writer.h"

namespace thaw::snapshot::test {

inline constexpr size_t kPage = 4096;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("thaw-snapshot-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Page kinds by index: zero, text-like (compressible), random (incompressible), and copies of
// page 0..15 at a fixed distance so whole chunks repeat.
inline void fill_page(std::byte* p, uint64_t page, uint64_t seed) {
  uint64_t kind = (page * 7 + seed) % 11;
  if (kind == 0 || kind == 5) {
    std::memset(p, 0, kPage);
    return;
  }
  std::mt19937_64 rng(page * 1315423911u + seed);
  if (kind == 3) {
    for (size_t i = 0; i < kPage; i += 8) {
      uint64_t v = rng();
      std::memcpy(p + i, &v, 8);
    }
    return;
  }
  const char* words[] = {"import ", "def ", "return ", "self.", "None", "class ", "\n    ", "lambda ", "yield "};
  size_t i = 0;
  while (i < kPage) {
    const char* w = words[rng() % 9];
    size_t n = std::min(std::strlen(w), kPage - i);
    std::memcpy(p + i, w, n);
    i += n;
  }
}

// `pages` pages; pages in [dup_from, dup_from + dup_len) repeat pages [0, dup_len).
inline std::vector<std::byte> make_memory(uint64_t pages, uint64_t seed, uint64_t dup_from = 0, uint64_t dup_len = 0) {
  std::vector<std::byte> m(pages * kPage);
  for (uint64_t p = 0; p < pages; ++p) {
    if (dup_len && p >= dup_from && p < dup_from + dup_len)
      std::memcpy(m.data() + p * kPage, m.data() + (p - dup_from) * kPage, kPage);
    else
      fill_page(m.data() + p * kPage, p, seed);
  }
  return m;
}

}  // namespace thaw::snapshot::test
