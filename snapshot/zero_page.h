#pragma once
// Fast test for an all-zero page: ORs 64-bit words in 256-byte blocks (vectorised by the
// compiler) and stops at the first block with a set bit, so a typical data page costs one block.
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace thaw::snapshot {

inline bool is_zero_block(const std::byte* p, size_t bytes) {
  constexpr size_t kBlock = 256;
  for (size_t off = 0; off < bytes; off += kBlock) {
    uint64_t w[kBlock / 8];
    std::memcpy(w, p + off, kBlock);
    uint64_t acc = 0;
    for (uint64_t x : w) acc |= x;
    if (acc != 0) return false;
  }
  return true;
}

// `page` must be 4096 bytes.
inline bool is_zero_page(const std::byte* page) { return is_zero_block(page, 4096); }

}  // namespace thaw::snapshot
