#pragma once
// A VM made ahead of the machine it will hold: /dev/kvm opened and checked, KVM_CREATE_VM, the
// TSS and identity-map addresses, the in-kernel irqchip and PIT (the PIC masked), and vCPU 0
// with its kvm_run mapping. None of that depends on the image or the snapshot, so a spare VMM
// process (engine/vmm_spares.h) makes one while it waits, and its restore begins at the memory
// slots. The order is KVM's: the identity map's address before any vCPU exists (KVM refuses it
// after) and the TSS's before one runs (both matter only on Intel), the irqchip before the
// vCPUs that get in-kernel LAPICs from it, the PIT after it. Memory slots may come later.
// A shell serves only the process that made it: KVM refuses a VM's ioctls from any other mm.
// Its kernel memory stays charged to the cgroup that process was in when it made it.
#include <memory>

#include "base/unique_fd.h"
#include "engine/vmm/kvm.h"
#include "engine/vmm/vcpu.h"

namespace thaw::vmm {

struct VmShell {
  Kvm kvm;
  UniqueFd vm_fd;
  std::unique_ptr<Vcpu> boot_vcpu;  // vCPU 0: every machine has one

  // Throws as Kvm::open does, or SystemError naming the ioctl KVM refused.
  static VmShell create();
};

}  // namespace thaw::vmm
