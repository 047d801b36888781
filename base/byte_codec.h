#pragma once
// Little helpers to lay plain data out as bytes and read it back, for state that thaw writes
// itself (machine state). The reader never trusts its input: every read is bounds-checked and a
// short or oversized field throws thaw::Error naming what was being read.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/error.h"

namespace thaw {

class ByteWriter {
 public:
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void put(const T& value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  // A 32-bit count followed by the elements.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void put_vector(std::span<const T> values) {
    put(static_cast<uint32_t>(values.size()));
    const auto* p = reinterpret_cast<const std::byte*>(values.data());
    out_.insert(out_.end(), p, p + values.size_bytes());
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

class ByteReader {
 public:
  ByteReader(std::span<const std::byte> in, std::string_view what) : in_(in), what_(what) {}

  template <class T>
    requires std::is_trivially_copyable_v<T>
  T get(std::string_view field) {
    T value;
    std::memcpy(&value, take(sizeof(T), field).data(), sizeof(T));
    return value;
  }
  // Reads what put_vector wrote; more than max_count elements is an error (corrupt count).
  template <class T>
    requires std::is_trivially_copyable_v<T>
  std::vector<T> get_vector(std::string_view field, size_t max_count) {
    auto n = get<uint32_t>(field);
    if (n > max_count)
      throw Error(std::string(what_) + ": " + std::string(field) + " has " + std::to_string(n) +
                  " entries, at most " + std::to_string(max_count) + " are possible");
    std::vector<T> values(n);
    if (n) std::memcpy(values.data(), take(n * sizeof(T), field).data(), n * sizeof(T));
    return values;
  }
  bool at_end() const { return offset_ == in_.size(); }
  size_t offset() const { return offset_; }

 private:
  std::span<const std::byte> take(size_t n, std::string_view field) {
    if (in_.size() - offset_ < n)
      throw Error(std::string(what_) + ": truncated in " + std::string(field) + " at byte " + std::to_string(offset_));
    auto s = in_.subspan(offset_, n);
    offset_ += n;
    return s;
  }

  std::span<const std::byte> in_;
  std::string_view what_;
  size_t offset_ = 0;
};

}  // namespace thaw
