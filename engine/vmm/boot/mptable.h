#pragma once
// Intel MultiProcessor Specification 1.4 table at layout::kEbda: one processor entry per vCPU
// (APIC id = index, vCPU 0 the bootstrap processor), an ISA bus, the IOAPIC with ISA IRQs
// 0..15 routed 1:1 to its pins, and LINT0/LINT1 as ExtINT/NMI. Linux uses it when booted with
// acpi=off (with ACPI it reads the MADT instead, which describes the same machine).
#include "engine/vmm/guest_memory_view.h"

namespace thaw::vmm {

void write_mptable(const GuestMemoryView& memory, unsigned vcpus);

}  // namespace thaw::vmm
