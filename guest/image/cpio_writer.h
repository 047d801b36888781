#pragma once
// Writes a cpio archive in the "newc" format (SVR4, no CRC): the format the Linux kernel
// unpacks an initramfs from. Entries are written in the order they are added; the caller
// adds each directory before what it contains (the kernel does not create parents).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "base/unique_fd.h"

namespace thaw::image {

// Where the archive's bytes go, in order.
using ByteSink = std::function<void(std::span<const std::byte>)>;

class CpioWriter {
 public:
  explicit CpioWriter(ByteSink sink) : sink_(std::move(sink)) {}

  // `name` is relative ("usr/bin/python3.11"): no leading '/', no "." or ".." components.
  // `mode` holds the permission bits only; the type comes from the call.
  void add_directory(std::string_view name, std::uint32_t mode, std::uint32_t mtime);
  void add_file(std::string_view name, std::uint32_t mode, std::uint32_t mtime, std::span<const std::byte> data);
  void add_file(std::string_view name, std::uint32_t mode, std::uint32_t mtime, std::string_view data) {
    add_file(name, mode, mtime, std::as_bytes(std::span(data.data(), data.size())));
  }
  // Streams `size` bytes of the open file `fd` (from its current offset) into the archive.
  void add_file_from_fd(std::string_view name, std::uint32_t mode, std::uint32_t mtime, int fd, std::uint64_t size,
                        std::string_view what);
  void add_symlink(std::string_view name, std::string_view target, std::uint32_t mtime);
  void add_char_device(std::string_view name, std::uint32_t mode, std::uint32_t major, std::uint32_t minor);
  // Writes the TRAILER!!! entry. Nothing may be added afterwards.
  void finish();

  std::uint64_t bytes_written() const { return offset_; }
  std::uint64_t entries() const { return next_ino_ - 1; }

 private:
  void header(std::string_view name, std::uint32_t mode, std::uint32_t mtime, std::uint64_t size,
              std::uint32_t rdev_major = 0, std::uint32_t rdev_minor = 0, bool trailer = false);
  void emit(std::span<const std::byte> data);
  void pad();

  ByteSink sink_;
  std::uint64_t offset_ = 0;
  std::uint32_t next_ino_ = 1;
  bool finished_ = false;
};

// A ByteSink that writes a file (created or truncated, mode 0644) through a 1 MiB buffer.
class FileSink {
 public:
  explicit FileSink(const std::string& path);
  void write(std::span<const std::byte> data);
  // Flushes and fsyncs; throws on failure. The destructor only closes.
  void close();

 private:
  void flush();
  std::string path_;
  UniqueFd fd_;
  std::string buf_;
};

// Throws thaw::Error if `name` is not a clean relative archive path.
void check_archive_name(std::string_view name);

}  // namespace thaw::image
