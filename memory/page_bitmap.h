#pragma once
// A fixed-size bitmap whose bits can be set and cleared from several threads at once
// (relaxed atomics: callers order their own data, the bitmap only records state).
#include <atomic>
#include <cstdint>
#include <memory>

namespace thaw::memory {

class AtomicBitmap {
 public:
  explicit AtomicBitmap(uint64_t bits = 0)
      : bits_(bits), words_(std::make_unique<std::atomic<uint64_t>[]>((bits + 63) / 64)) {}

  uint64_t size() const { return bits_; }
  bool test(uint64_t i) const { return (words_[i / 64].load(std::memory_order_acquire) >> (i % 64)) & 1; }
  void set(uint64_t i) { words_[i / 64].fetch_or(mask(i), std::memory_order_acq_rel); }
  void clear(uint64_t i) { words_[i / 64].fetch_and(~mask(i), std::memory_order_acq_rel); }
  // Sets the bit; returns whether it was already set.
  bool test_and_set(uint64_t i) { return words_[i / 64].fetch_or(mask(i), std::memory_order_acq_rel) & mask(i); }
  void set_range(uint64_t first, uint64_t count) {
    for (uint64_t i = first; i < first + count; ++i) set(i);
  }
  void clear_range(uint64_t first, uint64_t count) {
    for (uint64_t i = first; i < first + count; ++i) clear(i);
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (uint64_t w = 0; w < (bits_ + 63) / 64; ++w) n += static_cast<uint64_t>(__builtin_popcountll(words_[w].load()));
    return n;
  }

 private:
  static uint64_t mask(uint64_t i) { return uint64_t{1} << (i % 64); }
  uint64_t bits_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
};

}  // namespace thaw::memory
