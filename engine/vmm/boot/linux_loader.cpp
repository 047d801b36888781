#include "engine/vmm/boot/linux_loader.h"

#include <cstring>

#include "base/error.h"
#include "engine/vmm/boot/bzimage.h"
#include "engine/vmm/boot/layout.h"

namespace thaw::vmm {
namespace {

std::byte* at(const GuestMemoryView& m, uint64_t gpa, uint64_t len, const char* what) {
  std::byte* p = m.translate(gpa, len);
  if (!p) throw Error(std::string("boot: ") + what + " does not fit in guest memory");
  return p;
}

template <typename T>
void put(std::byte* base, size_t off, T v) {
  std::memcpy(base + off, &v, sizeof v);
}

// boot_params offsets (arch/x86/include/uapi/asm/bootparam.h)
constexpr size_t kAcpiRsdpAddr = 0x070;
constexpr size_t kExtRamdiskImage = 0x0c0;
constexpr size_t kExtRamdiskSize = 0x0c4;
constexpr size_t kExtCmdLinePtr = 0x0c8;
constexpr size_t kE820Entries = 0x1e8;
constexpr size_t kTypeOfLoader = 0x210;
constexpr size_t kLoadFlags = 0x211;
constexpr size_t kCode32Start = 0x214;
constexpr size_t kRamdiskImage = 0x218;
constexpr size_t kRamdiskSize = 0x21c;
constexpr size_t kHeapEndPtr = 0x224;
constexpr size_t kCmdLinePtr = 0x228;
constexpr size_t kE820Table = 0x2d0;
constexpr size_t kE820Max = 128;

}  // namespace

std::vector<E820Entry> e820_map(uint64_t mem_size) {
  return {{0, layout::kEbda, 1},
          {layout::kEbda, layout::kLowMemEnd - layout::kEbda, 2},
          {layout::kAcpi, layout::kAcpiEnd - layout::kAcpi, 2},
          {layout::kKernelLoad, mem_size - layout::kKernelLoad, 1}};
}

BootEntry load_linux(const GuestMemoryView& memory, const LinuxBootSpec& spec) {
  if (spec.mem_size < layout::kMinMemory || spec.mem_size > layout::kMmioGapStart)
    throw Error("boot: guest memory must be between 64 MiB and 3 GiB");
  BzImageInfo info = parse_bzimage(spec.bzimage, spec.kernel_name);

  // Kernel at 1 MiB; it relocates itself (and decompresses) from there.
  if (layout::kKernelLoad + info.kernel.size() > spec.mem_size / 2) throw Error("boot: kernel too large for guest memory");
  std::memcpy(at(memory, layout::kKernelLoad, info.kernel.size(), "kernel"), info.kernel.data(), info.kernel.size());

  // Command line.
  if (spec.cmdline.size() > info.cmdline_size || spec.cmdline.size() >= layout::kCmdlineMax)
    throw Error("boot: command line longer than the kernel accepts (" + std::to_string(info.cmdline_size) + " bytes)");
  std::byte* cl = at(memory, layout::kCmdline, spec.cmdline.size() + 1, "command line");
  std::memcpy(cl, spec.cmdline.data(), spec.cmdline.size());
  cl[spec.cmdline.size()] = std::byte{0};

  // Initramfs at the top of RAM below initrd_addr_max, page-aligned.
  uint64_t initrd_addr = 0;
  if (!spec.initrd.empty()) {
    uint64_t top = std::min<uint64_t>(spec.mem_size, uint64_t(info.initrd_addr_max) + 1);
    if (spec.initrd.size() > top / 2) throw Error("boot: initramfs too large for guest memory");
    initrd_addr = (top - spec.initrd.size()) & ~0xfffull;
    std::memcpy(at(memory, initrd_addr, spec.initrd.size(), "initramfs"), spec.initrd.data(), spec.initrd.size());
  }

  // Zero page.
  std::byte* zp = at(memory, layout::kZeroPage, 4096, "zero page");
  std::memset(zp, 0, 4096);
  std::memcpy(zp + 0x1f1, info.setup_header.data(), info.setup_header.size());
  put<uint8_t>(zp, kTypeOfLoader, 0xff);
  put<uint8_t>(zp, kLoadFlags, static_cast<uint8_t>(std::to_integer<uint8_t>(zp[kLoadFlags]) | 0x01 | 0x80));
  put<uint32_t>(zp, kCode32Start, static_cast<uint32_t>(layout::kKernelLoad));
  put<uint16_t>(zp, kHeapEndPtr, 0xfe00);
  put<uint32_t>(zp, kCmdLinePtr, static_cast<uint32_t>(layout::kCmdline));
  put<uint32_t>(zp, kExtCmdLinePtr, 0);
  put<uint32_t>(zp, kRamdiskImage, static_cast<uint32_t>(initrd_addr));
  put<uint32_t>(zp, kRamdiskSize, static_cast<uint32_t>(spec.initrd.size()));
  put<uint32_t>(zp, kExtRamdiskImage, 0);
  put<uint32_t>(zp, kExtRamdiskSize, 0);
  put<uint64_t>(zp, kAcpiRsdpAddr, spec.rsdp_addr);
  auto e820 = e820_map(spec.mem_size);
  static_assert(kE820Max >= 4);
  put<uint8_t>(zp, kE820Entries, static_cast<uint8_t>(e820.size()));
  for (size_t i = 0; i < e820.size(); ++i) {
    put<uint64_t>(zp, kE820Table + 20 * i, e820[i].addr);
    put<uint64_t>(zp, kE820Table + 20 * i + 8, e820[i].size);
    put<uint32_t>(zp, kE820Table + 20 * i + 16, e820[i].type);
  }

  // Identity map of the low 4 GiB with 2 MiB pages (present | writable | page size).
  std::byte* pml4 = at(memory, layout::kPml4, 4096, "page tables");
  std::byte* pdpt = at(memory, layout::kPdpt, 4096, "page tables");
  std::byte* pd = at(memory, layout::kPd, 4 * 4096, "page tables");
  std::memset(pml4, 0, 4096);
  std::memset(pdpt, 0, 4096);
  put<uint64_t>(pml4, 0, layout::kPdpt | 0x3);
  for (uint64_t i = 0; i < 4; ++i) put<uint64_t>(pdpt, 8 * i, (layout::kPd + 4096 * i) | 0x3);
  for (uint64_t i = 0; i < 4 * 512; ++i) put<uint64_t>(pd, 8 * i, (i << 21) | 0x83);

  std::byte* gdt = at(memory, layout::kGdt, sizeof kBootGdt, "GDT");
  std::memcpy(gdt, kBootGdt, sizeof kBootGdt);

  BootEntry e;
  e.rip = layout::kKernelLoad + 0x200;
  e.rsi = layout::kZeroPage;
  e.rsp = layout::kBootStack;
  e.cr3 = layout::kPml4;
  e.gdt_base = layout::kGdt;
  e.gdt_limit = sizeof kBootGdt - 1;
  return e;
}

}  // namespace thaw::vmm
