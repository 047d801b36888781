#include "engine/vmm/boot/bzimage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"
#include "base/unique_fd.h"

namespace thaw::vmm {
namespace {

template <typename T>
T get(std::span<const uint8_t> b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

}  // namespace

BzImageInfo parse_bzimage(std::span<const uint8_t> image, const std::string& name) {
  auto bad = [&](const std::string& why) { return Error("kernel " + name + ": " + why); };
  if (image.size() < 0x268) throw bad("too small to be a bzImage (" + std::to_string(image.size()) + " bytes)");
  if (get<uint16_t>(image, 0x1fe) != 0xaa55 || std::memcmp(image.data() + 0x202, "HdrS", 4) != 0)
    throw bad("not a Linux bzImage (no boot sector signature or HdrS magic)");
  BzImageInfo info;
  info.protocol = get<uint16_t>(image, 0x206);
  if (info.protocol < 0x020c)
    throw bad("boot protocol " + std::to_string(info.protocol >> 8) + "." + std::to_string(info.protocol & 0xff) +
              " is too old (the 64-bit entry needs 2.12)");
  if (!(image[0x211] & 0x01)) throw bad("not a bzImage (zImage loaded low is not supported)");
  if (!(get<uint16_t>(image, 0x236) & 0x1)) throw bad("has no 64-bit entry point (XLF_KERNEL_64)");
  unsigned setup_sects = image[0x1f1] ? image[0x1f1] : 4;
  info.setup_bytes = (setup_sects + 1) * 512;
  size_t header_end = 0x202 + image[0x201];
  if (header_end < 0x268 || header_end > info.setup_bytes) throw bad("setup header length is inconsistent");
  if (image.size() <= info.setup_bytes) throw bad("truncated: no protected-mode kernel after the setup code");
  uint32_t syssize = get<uint32_t>(image, 0x1f4);  // in 16-byte paragraphs
  if (uint64_t(syssize) * 16 > image.size() - info.setup_bytes)
    throw bad("truncated: header says " + std::to_string(uint64_t(syssize) * 16) + " bytes of kernel, file has " +
              std::to_string(image.size() - info.setup_bytes));
  info.initrd_addr_max = get<uint32_t>(image, 0x22c);
  info.cmdline_size = get<uint32_t>(image, 0x238);
  info.pref_address = get<uint64_t>(image, 0x258);
  info.init_size = get<uint32_t>(image, 0x260);
  info.setup_header = image.subspan(0x1f1, header_end - 0x1f1);
  info.kernel = image.subspan(info.setup_bytes);
  return info;
}

std::vector<uint8_t> read_file(const std::string& path, uint64_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) throw_errno("fstat", path);
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
  if (uint64_t(st.st_size) > max_size) throw Error(path + ": too large (" + std::to_string(st.st_size) + " bytes)");
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

}  // namespace thaw::vmm
