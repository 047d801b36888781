#pragma once
// Reads a newc cpio archive (what CpioWriter writes and the kernel unpacks): lists and
// checks an image's initramfs. Every length and offset is checked against the input, so a
// truncated or corrupt archive gives a thaw::Error, never an out-of-bounds read.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace thaw::image {

struct CpioEntry {
  std::string name;
  std::uint32_t ino = 0, mode = 0, uid = 0, gid = 0, nlink = 0, mtime = 0;
  std::uint32_t rdev_major = 0, rdev_minor = 0;
  std::span<const std::byte> data;  // file contents or symlink target; points into the input
};

// Parses the entries up to TRAILER!!! (not included). Throws thaw::Error on a malformed archive.
std::vector<CpioEntry> read_cpio(std::span<const std::byte> archive);

}  // namespace thaw::image
