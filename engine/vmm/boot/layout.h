#pragma once
// Where thaw puts things in guest-physical memory (x86-64 microVM). RAM is one region from 0
// up to at most kMmioGapStart; devices live in the gap above it.
#include <cstdint>

namespace thaw::vmm::layout {

inline constexpr uint64_t kGdt = 0x500;
inline constexpr uint64_t kZeroPage = 0x7000;       // boot_params
inline constexpr uint64_t kBootStack = 0x8ff0;
inline constexpr uint64_t kPml4 = 0x9000;           // identity page tables: PML4, PDPT, 4 PDs
inline constexpr uint64_t kPdpt = 0xa000;
inline constexpr uint64_t kPd = 0xb000;             // 4 pages: 4 GiB of 2 MiB pages
inline constexpr uint64_t kCmdline = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000;
inline constexpr uint64_t kEbda = 0x9fc00;          // MP table lives here; reserved in e820
inline constexpr uint64_t kLowMemEnd = 0xa0000;
inline constexpr uint64_t kAcpi = 0xe0000;          // RSDP and tables; reserved in e820
inline constexpr uint64_t kAcpiEnd = 0x100000;
inline constexpr uint64_t kKernelLoad = 0x100000;   // bzImage protected-mode code
inline constexpr uint64_t kMinMemory = 64ull << 20;
inline constexpr uint64_t kMmioGapStart = 0xc0000000;  // RAM ends here at the latest (3 GiB)
inline constexpr uint64_t kVirtioMmioBase = 0xd0000000;
inline constexpr uint64_t kVirtioMmioSize = 0x1000;  // one slot per device: console, then net
inline constexpr uint64_t kVirtioNetBase = kVirtioMmioBase + kVirtioMmioSize;
inline constexpr uint64_t kVmGenId = 0xfeb00000;     // the VMGenID page: its own KVM slot, not RAM
inline constexpr uint64_t kIoapic = 0xfec00000;
inline constexpr uint64_t kLapic = 0xfee00000;
inline constexpr uint64_t kIdentityMap = 0xfffbc000;  // KVM_SET_IDENTITY_MAP_ADDR (one page)
inline constexpr uint64_t kTss = 0xfffbd000;          // KVM_SET_TSS_ADDR (three pages)

inline constexpr unsigned kSerialIrq = 4;
inline constexpr unsigned kFirstVirtioIrq = 5;  // the console's; the network card's is the next
inline constexpr unsigned kVirtioNetIrq = kFirstVirtioIrq + 1;
inline constexpr unsigned kGedGsi = 23;  // the Generic Event Device's interrupt (last IOAPIC pin)
inline constexpr uint16_t kSerialPort = 0x3f8;
inline constexpr uint16_t kI8042DataPort = 0x60;
inline constexpr uint16_t kI8042CommandPort = 0x64;
inline constexpr uint16_t kAcpiSleepControlPort = 0x600;  // hardware-reduced ACPI sleep registers
inline constexpr uint16_t kAcpiSleepStatusPort = 0x601;
inline constexpr unsigned kMaxVcpus = 32;

}  // namespace thaw::vmm::layout
