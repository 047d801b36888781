#pragma once
// Owns one mmap()ed range; munmaps it exactly once.
#include <cstddef>
#include <span>
#include <utility>

namespace thaw {

class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t size) noexcept : addr_(addr), size_(size) {}
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  // mmap() or throw SystemError naming `what`.
  static Mapping map(size_t size, int prot, int flags, int fd = -1, long offset = 0, const char* what = "");
  // Private anonymous read/write memory.
  static Mapping anonymous(size_t size, const char* what = "anonymous memory");

  std::byte* data() const noexcept { return static_cast<std::byte*>(addr_); }
  size_t size() const noexcept { return size_; }
  std::span<std::byte> bytes() const noexcept { return {data(), size_}; }
  explicit operator bool() const noexcept { return addr_ != nullptr; }
  void reset() noexcept;

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace thaw
