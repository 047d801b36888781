#pragma once
// Minimal ACPI tables (RSDP, XSDT, hardware-reduced FADT, MADT, DSDT) so the guest finds what
// Debian's kernel cannot be told on its command line (it lacks VIRTIO_MMIO_CMDLINE_DEVICES):
// the virtio-mmio devices (_HID LNRO0005), COM1 (PNP0501, which maps its IRQ), the vCPUs' local
// APICs and the IOAPIC. Power-off goes through the FADT's sleep control register (an I/O port)
// and _S5; there is no SCI, no PM timer and no i8042 (IAPC_BOOT_ARCH says so), no CMOS RTC.
#include <cstdint>
#include <span>
#include <vector>

#include "engine/vmm/guest_memory_view.h"

namespace thaw::vmm {

struct VirtioMmioSlot {
  uint64_t base = 0;
  uint32_t size = 0;
  uint32_t irq = 0;
};

// AML for the DSDT body (definition blocks after the table header).
std::vector<uint8_t> build_dsdt_aml(std::span<const VirtioMmioSlot> virtio);

// Writes all tables at layout::kAcpi; returns the RSDP's guest address.
uint64_t write_acpi_tables(const GuestMemoryView& memory, unsigned vcpus, std::span<const VirtioMmioSlot> virtio);

// The SLP_TYP value _S5 declares; the sleep control register sees (typ << 2) | SLP_EN (1 << 5).
inline constexpr uint8_t kAcpiS5SleepType = 5;

}  // namespace thaw::vmm
