#include "guest/image/cpio_reader.h"

#include <string_view>

#include "base/error.h"

namespace thaw::image {
namespace {

constexpr std::size_t kHeaderSize = 110;

std::uint32_t hex_field(std::string_view s, std::size_t index) {
  std::uint32_t v = 0;
  for (char c : s.substr(6 + 8 * index, 8)) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      throw Error("cpio: bad hex digit in a header field");
    v = v << 4 | std::uint32_t(d);
  }
  return v;
}

std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t(3); }

}  // namespace

std::vector<CpioEntry> read_cpio(std::span<const std::byte> archive) {
  std::vector<CpioEntry> entries;
  std::size_t off = 0;
  for (;;) {
    if (archive.size() - off < kHeaderSize) throw Error("cpio: truncated header at offset " + std::to_string(off));
    std::string_view head(reinterpret_cast<const char*>(archive.data() + off), kHeaderSize);
    if (head.substr(0, 6) != "070701" && head.substr(0, 6) != "070702")
      throw Error("cpio: not a newc header at offset " + std::to_string(off));
    CpioEntry e;
    e.ino = hex_field(head, 0);
    e.mode = hex_field(head, 1);
    e.uid = hex_field(head, 2);
    e.gid = hex_field(head, 3);
    e.nlink = hex_field(head, 4);
    e.mtime = hex_field(head, 5);
    std::uint32_t size = hex_field(head, 6);
    e.rdev_major = hex_field(head, 9);
    e.rdev_minor = hex_field(head, 10);
    std::uint32_t name_size = hex_field(head, 11);
    if (name_size == 0) throw Error("cpio: entry with an empty name");
    std::size_t name_off = off + kHeaderSize;
    if (archive.size() - name_off < name_size) throw Error("cpio: truncated name");
    std::string_view name(reinterpret_cast<const char*>(archive.data() + name_off), name_size);
    if (name.back() != '\0') throw Error("cpio: name not NUL-terminated");
    name.remove_suffix(1);
    std::size_t data_off = align4(name_off + name_size);
    if (data_off > archive.size() || archive.size() - data_off < size)
      throw Error("cpio: truncated data of " + std::string(name));
    if (name == "TRAILER!!!") return entries;
    e.name = std::string(name);
    e.data = archive.subspan(data_off, size);
    entries.push_back(std::move(e));
    off = align4(data_off + size);
    if (off > archive.size()) throw Error("cpio: truncated padding");
  }
}

}  // namespace thaw::image
