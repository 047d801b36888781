#pragma once
// One KVM vCPU: its fd, its shared kvm_run page, and the boot-time register set-up (CPUID,
// MSRs, FPU, and for the boot vCPU the long-mode registers of the 64-bit Linux entry).
// Secondary vCPUs stay in wait-for-SIPI (in-kernel LAPIC) until the guest starts them.
#include <linux/kvm.h>

#include <span>
#include <vector>

#include "base/mapping.h"
#include "base/unique_fd.h"
#include "engine/vmm/boot/linux_loader.h"
#include "engine/vmm/machine_state.h"

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

  // The vCPU's whole state, in Firecracker's order (mp_state first, vcpu_events last). The vCPU
  // must be out of KVM_RUN with any pending I/O completed (Vm::pause). `msr_indices` are the
  // MSRs to try (KVM's index list); those this vCPU cannot read are left out.
  VcpuState save_state(std::span<const uint32_t> msr_indices, size_t xsave_size) const;
  // Restores a saved state into a fresh vCPU in dependency order: cpuid, mp_state, regs, sregs,
  // xsave, xcrs, debugregs, lapic, TSC frequency, MSRs (TSC deadline after the TSC), events.
  void restore_state(const VcpuState& state);
  // KVM_KVMCLOCK_CTRL: tells the guest it was paused, so its watchdogs do not fire on resume.
  void mark_clock_paused();
  // KVM_PRE_FAULT_MEMORY (Linux 6.11+, two-dimensional paging): maps guest-physical
  // [gpa, gpa + size) into KVM's stage-2 page tables now, as read faults by this vCPU would
  // (host pages are faulted in as needed, copy-on-write is not broken), so that the guest does
  // not exit to KVM for them once it runs. Returns the bytes mapped: the whole range, or less
  // where KVM cannot for this vCPU (EOPNOTSUPP: shadow paging). Throws SystemError otherwise.
  uint64_t pre_fault(uint64_t gpa, uint64_t size);

 private:
  unsigned index_;
  UniqueFd fd_;
  Mapping run_;
};

}  // namespace thaw::vmm
