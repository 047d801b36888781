#pragma once
// The ACPI VM Generation ID device, with the Generic Event Device (GED, ACPI0013) that tells
// the guest it changed, as a hardware-reduced ACPI machine has no GPE block to do it.
//
// The 16-byte generation id lives in a page of its own, mapped into the guest as a KVM memory
// slot in the MMIO gap: outside guest RAM, so the guest never allocates it and the page store
// never carries it (the id is this device's snapshot section instead). The DSDT describes both
// devices (acpi.h): VGEN (_CID "VM_GEN_COUNTER", which Linux's vmgenid driver matches) whose
// ADDR names the page, and GED whose interrupt runs _EVT, which does Notify(VGEN, 0x80). The
// driver then reads the new id, mixes it into the kernel's CRNG and reseeds it at once
// (add_vmfork_randomness: "crng reseeded due to virtual machine fork"), in the kernel, before
// user space is scheduled again.
//
// change() on a restored machine, after its irqchip state is back and before its vCPUs run:
// the interrupt is then pending in the IOAPIC and is the first thing the guest takes.
#include <array>
#include <cstddef>
#include <cstdint>

#include "base/mapping.h"
#include "engine/vmm/devices/snapshottable.h"
#include "engine/vmm/irq_line.h"

namespace thaw::vmm {

inline constexpr size_t kVmGenIdSize = 16;
using VmGenerationId = std::array<std::byte, kVmGenIdSize>;

class VmGenId : public Snapshottable {
 public:
  // Maps the id's page, registers it as KVM memory slot `slot` at guest address `gpa`, wires
  // the GED's interrupt to `gsi` and writes a fresh random id.
  VmGenId(int vm_fd, uint32_t slot, uint64_t gpa, uint32_t gsi);

  // Writes `id` for the guest to find and raises the GED interrupt.
  void change(const VmGenerationId& id);
  VmGenerationId id() const;
  static VmGenerationId random_id();

  // Section "vmgenid": the id the guest last saw.
  std::string snapshot_id() const override { return "vmgenid"; }
  uint32_t snapshot_version() const override { return 1; }
  std::vector<std::byte> save_section() override;
  void restore_section(uint32_t version, std::span<const std::byte> bytes) override;

 private:
  void write_id(const VmGenerationId& id);
  Mapping page_;
  IrqLine ged_irq_;
};

}  // namespace thaw::vmm
