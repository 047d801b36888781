#include "engine/vmm/vcpu.h"

#include <sys/mman.h>

#include <cstring>
#include <string>

#include "base/error.h"
#include "engine/vmm/kvm.h"

namespace thaw::vmm {
namespace {

constexpr uint32_t kMsrSysenterCs = 0x174, kMsrSysenterEsp = 0x175, kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084, kMsrKernelGsBase = 0xc0000102;
constexpr uint32_t kMsrTsc = 0x10, kMsrMiscEnable = 0x1a0, kMsrMtrrDefType = 0x2ff;

kvm_segment segment(uint16_t selector, uint8_t type, bool code64) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = code64 ? 0 : 1;
  s.s = 1;
  s.l = code64 ? 1 : 0;
  s.g = 1;
  return s;
}

}  // namespace

Vcpu::Vcpu(int vm_fd, unsigned index, size_t run_mmap_size) : index_(index) {
  std::string what = "vCPU " + std::to_string(index);
  fd_ = UniqueFd(kvm_ioctl(vm_fd, KVM_CREATE_VCPU, static_cast<unsigned long>(index), "KVM_CREATE_VCPU", what));
  run_ = Mapping::map(run_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0, "kvm_run");
}

void Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  std::vector<uint64_t> storage((sizeof(KvmCpuidHeader) + entries.size() * sizeof(kvm_cpuid_entry2)) / 8 + 1);
  auto* c = reinterpret_cast<KvmCpuidHeader*>(storage.data());
  c->nent = static_cast<uint32_t>(entries.size());
  std::memcpy(c + 1, entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  kvm_ioctl(fd(), kKvmSetCpuid2, c, "KVM_SET_CPUID2");
}

void Vcpu::set_boot_msrs() {
  const std::pair<uint32_t, uint64_t> msrs[] = {
      {kMsrSysenterCs, 0}, {kMsrSysenterEsp, 0}, {kMsrSysenterEip, 0}, {kMsrStar, 0},
      {kMsrLstar, 0},      {kMsrCstar, 0},       {kMsrSyscallMask, 0}, {kMsrKernelGsBase, 0},
      {kMsrTsc, 0},        {kMsrMiscEnable, 1},  // fast strings
      {kMsrMtrrDefType, (1u << 11) | 6},         // MTRRs enabled, default write-back
  };
  constexpr size_t n = std::size(msrs);
  std::vector<uint64_t> storage((sizeof(KvmMsrsHeader) + n * sizeof(kvm_msr_entry)) / 8 + 1);
  auto* m = reinterpret_cast<KvmMsrsHeader*>(storage.data());
  m->nmsrs = n;
  auto* entries = reinterpret_cast<kvm_msr_entry*>(m + 1);
  for (size_t i = 0; i < n; ++i) {
    entries[i] = kvm_msr_entry{};
    entries[i].index = msrs[i].first;
    entries[i].data = msrs[i].second;
  }
  int set = kvm_ioctl(fd(), kKvmSetMsrs, m, "KVM_SET_MSRS");
  if (set != static_cast<int>(n))
    throw Error("KVM_SET_MSRS: KVM refused MSR " + std::to_string(msrs[set].first));
}

void Vcpu::set_boot_fpu() {
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  kvm_ioctl(fd(), KVM_SET_FPU, &fpu, "KVM_SET_FPU");
}

void Vcpu::set_boot_registers(const BootEntry& e) {
  kvm_sregs s{};
  kvm_ioctl(fd(), KVM_GET_SREGS, &s, "KVM_GET_SREGS");
  s.cs = segment(0x10, 0xb, true);
  s.ds = s.es = s.fs = s.gs = s.ss = segment(0x18, 0x3, false);
  s.tr = segment(0x20, 0xb, false);
  s.tr.s = 0;
  s.tr.limit = 0xfffff;
  s.gdt.base = e.gdt_base;
  s.gdt.limit = e.gdt_limit;
  s.idt.base = 0;
  s.idt.limit = 0;
  s.cr0 = 0x80000031;  // PG | NE | ET | PE: long mode needs paging; caches enabled
  s.cr3 = e.cr3;
  s.cr4 = 0x20;        // PAE
  s.efer = 0x500;      // LME | LMA
  kvm_ioctl(fd(), KVM_SET_SREGS, &s, "KVM_SET_SREGS");

  kvm_regs r{};
  r.rflags = 0x2;
  r.rip = e.rip;
  r.rsi = e.rsi;
  r.rsp = e.rsp;
  r.rbp = e.rsp;
  kvm_ioctl(fd(), KVM_SET_REGS, &r, "KVM_SET_REGS");
}

}  // namespace thaw::vmm
