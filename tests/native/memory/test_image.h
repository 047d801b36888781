#pragma once
// Deterministic guest images for the memory tests: any page's original content can be
// regenerated from its index, so a 1 GiB image need not be kept to check a restore.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "base/mapping.h"

namespace thaw::memory::test {

inline constexpr size_t kPage = 4096;

inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Whole zero chunks (every 4th chunk of 16 pages) and scattered zero pages.
inline bool original_is_zero(uint64_t page) { return (page / 16) % 4 == 3 || mix(page) % 3 == 0; }

// 512 pseudo-random bytes then a compressible pattern; every page differs from every other.
inline void original_page(uint64_t page, std::byte* out) {
  if (original_is_zero(page)) {
    std::memset(out, 0, kPage);
    return;
  }
  uint64_t w[kPage / 8];
  uint64_t s = mix(page ^ 0x5eed);
  for (size_t i = 0; i < 64; ++i) w[i] = s = mix(s);
  for (size_t i = 64; i < kPage / 8; ++i) w[i] = (page + 1) * 0x0001000100010001ULL + (i & 7);
  std::memcpy(out, w, kPage);
}

// An anonymous mapping holding pages [0, pages) of the image (zero pages left untouched).
inline Mapping make_image(uint64_t pages) {
  Mapping m = Mapping::anonymous(pages * kPage, "test image");
  for (uint64_t p = 0; p < pages; ++p)
    if (!original_is_zero(p)) original_page(p, m.data() + p * kPage);
  return m;
}

// True if `page` (host memory) holds original page `index`.
inline bool page_matches(const std::byte* page, uint64_t index) {
  alignas(64) std::byte expected[kPage];
  original_page(index, expected);
  return std::memcmp(page, expected, kPage) == 0;
}

}  // namespace thaw::memory::test
