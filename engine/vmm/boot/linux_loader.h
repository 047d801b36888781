#pragma once
// Loads a bzImage, an initramfs and a command line into guest memory for the boot protocol's
// 64-bit entry: zero page (setup header copied from the image, e820 map, cmdline and initrd
// pointers, RSDP), identity-mapped page tables for the low 4 GiB, and a flat GDT.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/vmm/guest_memory_view.h"

namespace thaw::vmm {

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // 1 RAM, 2 reserved
};

// The memory map the guest sees for `mem_size` bytes of RAM at 0.
std::vector<E820Entry> e820_map(uint64_t mem_size);

struct LinuxBootSpec {
  std::span<const uint8_t> bzimage;
  std::string kernel_name;  // for error messages
  std::span<const uint8_t> initrd;
  std::string cmdline;
  uint64_t mem_size = 0;
  uint64_t rsdp_addr = 0;  // 0: none
};

// Register state of the boot vCPU at the 64-bit entry.
struct BootEntry {
  uint64_t rip = 0;
  uint64_t rsi = 0;  // zero page
  uint64_t rsp = 0;
  uint64_t cr3 = 0;
  uint64_t gdt_base = 0;
  uint16_t gdt_limit = 0;
};

// Throws thaw::Error for a bad kernel file, a command line or initrd that does not fit.
BootEntry load_linux(const GuestMemoryView& memory, const LinuxBootSpec& spec);

// GDT entries thaw boots with: null, null, code64 (selector 0x10), data (0x18), TSS (0x20).
inline constexpr uint64_t kBootGdt[] = {0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull, 0x008f8b000000ffffull};

}  // namespace thaw::vmm
