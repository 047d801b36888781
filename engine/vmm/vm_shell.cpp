#include "engine/vmm/vm_shell.h"

#include <linux/kvm.h>

#include "engine/vmm/boot/layout.h"

namespace thaw::vmm {

namespace {

// Masks both 8259s as firmware would: the guest drives the IOAPIC; an unprogrammed PIC must not
// inject vectors through LINT0.
void mask_pic(int vm_fd) {
  for (uint32_t chip : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE}) {
    kvm_irqchip c{};
    c.chip_id = chip;
    kvm_ioctl(vm_fd, KVM_GET_IRQCHIP, &c, "KVM_GET_IRQCHIP");
    c.chip.pic.imr = 0xff;
    c.chip.pic.irq_base = chip == KVM_IRQCHIP_PIC_MASTER ? 0x20 : 0x28;
    kvm_ioctl(vm_fd, KVM_SET_IRQCHIP, &c, "KVM_SET_IRQCHIP");
  }
}

}  // namespace

VmShell VmShell::create() {
  VmShell s{Kvm::open(), {}, {}};
  s.vm_fd = UniqueFd(kvm_ioctl(s.kvm.fd(), KVM_CREATE_VM, 0ul, "KVM_CREATE_VM"));
  const int vm = s.vm_fd.get();
  // Both addresses sit in the MMIO gap below 4 GiB where no RAM is.
  kvm_ioctl(vm, KVM_SET_TSS_ADDR, static_cast<unsigned long>(layout::kTss), "KVM_SET_TSS_ADDR");
  uint64_t identity = layout::kIdentityMap;
  kvm_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &identity, "KVM_SET_IDENTITY_MAP_ADDR");
  kvm_ioctl(vm, KVM_CREATE_IRQCHIP, 0ul, "KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  kvm_ioctl(vm, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");
  mask_pic(vm);
  s.boot_vcpu = std::make_unique<Vcpu>(vm, 0, s.kvm.vcpu_mmap_size());
  return s;
}

}  // namespace thaw::vmm
