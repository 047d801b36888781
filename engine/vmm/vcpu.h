#pragma once
// One KVM vCPU: its fd, its shared kvm_run page, and the boot-time register set-up (CPUID,
// MSRs, FPU, and for the boot vCPU the long-mode registers of the 64-bit Linux entry).
// Secondary vCPUs stay in wait-for-SIPI (in-kernel LAPIC) until the guest starts them.
#include <linux/kvm.h>

#include <vector>

#include "base/mapping.h"
#include "base/unique_fd.h"
#include "engine/vmm/boot/linux_loader.h"

namespace thaw::vmm {

class Vcpu {
 public:
  Vcpu(int vm_fd, unsigned index, size_t run_mmap_size);

  int fd() const { return fd_.get(); }
  unsigned index() const { return index_; }
  kvm_run* run() const { return reinterpret_cast<kvm_run*>(run_.data()); }

  void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  void set_boot_msrs();
  void set_boot_fpu();
  void set_boot_registers(const BootEntry& entry);

 private:
  unsigned index_;
  UniqueFd fd_;
  Mapping run_;
};

}  // namespace thaw::vmm
