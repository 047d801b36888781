#pragma once
// The Linux x86 boot protocol's setup header of a bzImage (Documentation/arch/x86/boot.rst).
// Parsing checks magic, protocol version (>= 2.12 for the 64-bit entry) and that the file holds
// everything the header claims; anything else is a thaw::Error naming the file.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace thaw::vmm {

struct BzImageInfo {
  uint16_t protocol = 0;         // e.g. 0x020f for 2.15
  uint32_t setup_bytes = 0;      // real-mode part incl. boot sector: (setup_sects + 1) * 512
  uint32_t initrd_addr_max = 0;  // highest address the initrd may end at
  uint32_t cmdline_size = 0;     // longest command line, without the NUL
  uint32_t init_size = 0;
  uint64_t pref_address = 0;
  std::span<const uint8_t> setup_header;  // bytes 0x1f1.. end of header, to copy into the zero page
  std::span<const uint8_t> kernel;        // the protected-mode kernel, loaded at 1 MiB
};

// Parses an in-memory bzImage. `name` only labels error messages. The spans point into `image`.
BzImageInfo parse_bzimage(std::span<const uint8_t> image, const std::string& name);

// Reads a whole file (thaw::Error / SystemError naming it on failure).
std::vector<uint8_t> read_file(const std::string& path, uint64_t max_size = 1ull << 31);

}  // namespace thaw::vmm
