#pragma once
// Minimal ACPI tables (RSDP, XSDT, hardware-reduced FADT, MADT, DSDT) so the guest finds what
// Debian's kernel cannot be told on its command line (it lacks VIRTIO_MMIO_CMDLINE_DEVICES):
// the virtio-mmio devices (_HID LNRO0005), COM1 (PNP0501, which maps its IRQ), the vCPUs' local
// APICs and the IOAPIC, and the VM Generation ID device with the Generic Event Device that
// notifies it (devices/vmgenid.h). Power-off goes through the FADT's sleep control register (an I/O port)
// and _S5; there is no SCI, no PM timer and no i8042 (IAPC_BOOT_ARCH says so), no CMOS RTC.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/vmm/guest_memory_view.h"

namespace thaw::vmm {

struct VirtioMmioSlot {
  uint64_t base = 0;
  uint32_t size = 0;
  uint32_t irq = 0;
};

// VGEN (_HID THAWVGID, _CID VM_GEN_COUNTER, ADDR = the id's address as Package {low, high},
// the method name Linux's driver evaluates) and GED (ACPI0013, one edge interrupt whose _EVT
// notifies VGEN with 0x80).
struct VmGenIdSlot {
  uint64_t id_addr = 0;
  uint32_t ged_gsi = 0;
};

// AML for the DSDT body (definition blocks after the table header).
std::vector<uint8_t> build_dsdt_aml(std::span<const VirtioMmioSlot> virtio, std::optional<VmGenIdSlot> vmgenid = {});

// Writes all tables at layout::kAcpi; returns the RSDP's guest address.
uint64_t write_acpi_tables(const GuestMemoryView& memory, unsigned vcpus, std::span<const VirtioMmioSlot> virtio,
                           std::optional<VmGenIdSlot> vmgenid = {});

// The SLP_TYP value _S5 declares; the sleep control register sees (typ << 2) | SLP_EN (1 << 5).
inline constexpr uint8_t kAcpiS5SleepType = 5;

}  // namespace thaw::vmm
