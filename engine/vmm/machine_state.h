#pragma once
// Everything besides guest memory that a paused microVM needs to run again: per-vCPU KVM state,
// the VM-wide in-kernel devices (PIT, kvmclock, PICs, IOAPIC) and one section per VMM device
// (devices/snapshottable.h). Saved
// by Vm::save_state() and handed to Vm's restoring constructor; encode/decode give it a
// versioned byte form (the snapshot room stores those bytes in a checksummed state blob).
#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/vmm/devices/snapshottable.h"

namespace thaw::vmm {

// Bumped whenever the layout below changes; decode refuses any other version. (A device's own
// layout has its section's version instead.) 2: devices as sections, the VMGenID device.
inline constexpr uint32_t kMachineStateVersion = 2;

struct VcpuState {
  kvm_mp_state mp_state{};
  kvm_regs regs{};
  kvm_sregs sregs{};
  std::vector<uint8_t> xsave;  // KVM_GET_XSAVE2 area (KVM_CAP_XSAVE2 bytes), else the 4 KiB one
  kvm_xcrs xcrs{};
  kvm_debugregs debugregs{};
  kvm_lapic_state lapic{};
  uint32_t tsc_khz = 0;
  std::vector<kvm_cpuid_entry2> cpuid;
  // Restored in this order; MSR_IA32_TSC is among them, so the TSC deadline (which KVM
  // interprets against the current TSC) comes in its own set afterwards.
  std::vector<kvm_msr_entry> msrs;
  std::vector<kvm_msr_entry> msrs_after_tsc;
  kvm_vcpu_events events{};
};

struct VmWideState {
  kvm_pit_state2 pit{};
  kvm_clock_data clock{};
  kvm_irqchip pic_master{}, pic_slave{}, ioapic{};
};

struct MachineState {
  uint64_t mem_bytes = 0;
  std::vector<VcpuState> vcpus;
  VmWideState vm;
  std::vector<DeviceSection> devices;  // in the Vm's registration order; ids are unique
  // The section of device `id`, or nullptr.
  const DeviceSection* device(std::string_view id) const {
    for (const auto& d : devices)
      if (d.id == id) return &d;
    return nullptr;
  }
};

std::vector<std::byte> encode_machine_state(const MachineState& state);
// Throws thaw::Error on a different version, a truncated or oversized field, or trailing bytes.
MachineState decode_machine_state(std::span<const std::byte> bytes);

// Refuses (thaw::Error naming the CPU features missing here) a snapshot whose vCPUs saw CPU
// features that this host's KVM cannot offer: the guest kernel would use them after restore.
void check_cpu_compatible(std::span<const kvm_cpuid_entry2> saved, std::span<const kvm_cpuid_entry2> supported);

}  // namespace thaw::vmm
