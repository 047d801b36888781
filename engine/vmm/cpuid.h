#pragma once
// CPUID for one vCPU, derived from KVM_GET_SUPPORTED_CPUID: APIC id = vCPU index, the
// hypervisor bit, topology leaves (1, 4, 0xb, 0x1f, 0x80000008, 0x8000001e) describing `count`
// single-threaded cores in one package, TSC-deadline timer when KVM can emulate it, and no
// architectural PMU (leaf 0xa zeroed: the guest skips perf counter probing).
#include <linux/kvm.h>

#include <span>
#include <vector>

namespace thaw::vmm {

struct CpuTopology {
  unsigned index = 0;  // this vCPU (also its APIC id)
  unsigned count = 1;  // vCPUs in the VM
};

std::vector<kvm_cpuid_entry2> normalize_cpuid(std::span<const kvm_cpuid_entry2> supported, CpuTopology topo,
                                              bool tsc_deadline);

}  // namespace thaw::vmm
