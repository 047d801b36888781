#pragma once
// A growable byte buffer whose new bytes are left uninitialised. It is for read and decode
// targets that are always written before they are read: std::vector<std::byte> zero-fills what
// it adds, which on fresh memory faults in and clears every page once more before the real
// write (a restore's prefetch and fault buffers are megabytes of such memory).
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace thaw {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(size_t size) { resize(size); }

  // Sets the size; the first min(size, size()) bytes are kept, any others are indeterminate.
  // Capacity only grows, so a buffer reused for equal or smaller sizes never allocates again.
  void resize(size_t size) {
    if (size > capacity_) {
      auto bigger = std::make_unique_for_overwrite<std::byte[]>(size);
      if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
      data_ = std::move(bigger);
      capacity_ = size;
    }
    size_ = size;
  }

  std::byte* data() { return data_.get(); }
  const std::byte* data() const { return data_.get(); }
  size_t size() const { return size_; }
  std::span<std::byte> span() { return {data_.get(), size_}; }
  std::span<const std::byte> span() const { return {data_.get(), size_}; }
  operator std::span<std::byte>() { return span(); }
  operator std::span<const std::byte>() const { return span(); }

 private:
  std::unique_ptr<std::byte[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace thaw
