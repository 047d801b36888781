#include "engine/vmm/cpuid.h"

#include "base/error.h"

namespace thaw::vmm {
namespace {

unsigned bits_for(unsigned n) {  // ceil(log2(n)), 0 for n <= 1
  unsigned b = 0;
  while ((1u << b) < n) ++b;
  return b;
}

}  // namespace

std::vector<kvm_cpuid_entry2> normalize_cpuid(std::span<const kvm_cpuid_entry2> supported, CpuTopology topo,
                                              bool tsc_deadline) {
  if (topo.count == 0 || topo.count > 255 || topo.index >= topo.count) throw Error("cpuid: bad vCPU topology");
  std::vector<kvm_cpuid_entry2> out(supported.begin(), supported.end());
  const unsigned id = topo.index, n = topo.count, shift = bits_for(n);
  for (kvm_cpuid_entry2& e : out) {
    switch (e.function) {
      case 1:
        e.ebx = (e.ebx & 0x0000ffffu) | (n << 16) | (id << 24);
        e.ecx |= 1u << 31;  // hypervisor present
        if (tsc_deadline) e.ecx |= 1u << 24;
        if (n > 1) e.edx |= 1u << 28;  // HTT: the logical-processor count field is valid
        break;
      case 4:  // deterministic cache parameters (Intel): cores per package
        if (e.eax & 0x1f) e.eax = (e.eax & 0x03ffffffu) | ((n - 1) << 26);
        e.eax &= ~(0xfffu << 14);  // one logical processor shares each cache level below the package
        break;
      case 6:
        e.ecx &= ~1u;  // no APERF/MPERF
        break;
      case 0xa:  // no architectural PMU
        e.eax = e.ebx = e.ecx = e.edx = 0;
        break;
      case 0xb:
      case 0x1f:  // extended topology: level 0 = thread (1 per core), level 1 = core (n per package)
        if (e.index == 0) {
          e.eax = 0;
          e.ebx = 1;
          e.ecx = (1u << 8);
        } else if (e.index == 1) {
          e.eax = shift;
          e.ebx = n;
          e.ecx = 1u | (2u << 8);
        } else {
          e.eax = e.ebx = 0;
          e.ecx = e.index;
        }
        e.edx = id;
        break;
      case 0x80000001:
        e.ecx &= ~(1u << 1);  // CmpLegacy off: cores, not hyperthreads
        break;
      case 0x80000008:  // AMD: NC = cores - 1, ApicIdSize
        e.ecx = (e.ecx & ~0xf0ffu) | (n - 1) | (shift << 12);
        break;
      case 0x8000001e:  // AMD extended APIC id, one thread per compute unit, node 0
        e.eax = id;
        e.ebx = id & 0xff;
        e.ecx = 0;
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace thaw::vmm
