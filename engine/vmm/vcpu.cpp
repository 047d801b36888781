#include "engine/vmm/vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
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

// Linux 6.11's KVM_PRE_FAULT_MEMORY; this host's headers may predate it.
struct KvmPreFaultMemory {
  uint64_t gpa;
  uint64_t size;
  uint64_t flags;
  uint64_t padding[5];
};
constexpr unsigned long kKvmPreFaultMemory = _IOWR(KVMIO, 0xd5, KvmPreFaultMemory);

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

namespace thaw::vmm {
namespace {

constexpr uint32_t kMsrTscDeadline = 0x6e0;

std::vector<kvm_cpuid_entry2> get_cpuid2(int fd) {
  for (uint32_t n = 128; n <= 4096; n *= 2) {
    std::vector<uint64_t> storage((sizeof(KvmCpuidHeader) + n * sizeof(kvm_cpuid_entry2)) / 8 + 1);
    auto* c = reinterpret_cast<KvmCpuidHeader*>(storage.data());
    c->nent = n;
    if (::ioctl(fd, kKvmGetCpuid2, c) < 0) {
      if (errno == E2BIG || errno == EINTR) continue;
      throw_errno("KVM_GET_CPUID2");
    }
    auto* entries = reinterpret_cast<const kvm_cpuid_entry2*>(c + 1);
    return {entries, entries + c->nent};
  }
  throw Error("KVM_GET_CPUID2: too many entries");
}

// KVM_GET_MSRS / KVM_SET_MSRS on `entries`; returns how many KVM processed (it stops at the
// first MSR it refuses).
int msr_ioctl(int fd, unsigned long request, std::vector<kvm_msr_entry>& entries, const char* call) {
  std::vector<uint64_t> storage((sizeof(KvmMsrsHeader) + entries.size() * sizeof(kvm_msr_entry)) / 8 + 1);
  auto* m = reinterpret_cast<KvmMsrsHeader*>(storage.data());
  m->nmsrs = static_cast<uint32_t>(entries.size());
  auto* e = reinterpret_cast<kvm_msr_entry*>(m + 1);
  std::memcpy(e, entries.data(), entries.size() * sizeof(kvm_msr_entry));
  int n = kvm_ioctl(fd, request, m, call);
  std::memcpy(entries.data(), e, entries.size() * sizeof(kvm_msr_entry));
  return n;
}

void set_msrs(int fd, std::vector<kvm_msr_entry> entries, unsigned index) {
  if (entries.empty()) return;
  int n = msr_ioctl(fd, kKvmSetMsrs, entries, "KVM_SET_MSRS");
  if (n != static_cast<int>(entries.size())) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%#x", entries[static_cast<size_t>(n)].index);
    throw Error("vCPU " + std::to_string(index) + ": KVM_SET_MSRS refused MSR " + hex + " of the snapshot");
  }
}

}  // namespace

VcpuState Vcpu::save_state(std::span<const uint32_t> msr_indices, size_t xsave_size) const {
  VcpuState s;
  const std::string what = "vCPU " + std::to_string(index_);
  kvm_ioctl(fd(), KVM_GET_MP_STATE, &s.mp_state, "KVM_GET_MP_STATE", what);
  kvm_ioctl(fd(), KVM_GET_REGS, &s.regs, "KVM_GET_REGS", what);
  kvm_ioctl(fd(), KVM_GET_SREGS, &s.sregs, "KVM_GET_SREGS", what);
  s.xsave.assign(std::max<size_t>(xsave_size, sizeof(KvmXsaveFixed)), 0);
  kvm_ioctl(fd(), xsave_size > sizeof(KvmXsaveFixed) ? kKvmGetXsave2 : kKvmGetXsave, s.xsave.data(),
            xsave_size > sizeof(KvmXsaveFixed) ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE", what);
  kvm_ioctl(fd(), KVM_GET_XCRS, &s.xcrs, "KVM_GET_XCRS", what);
  kvm_ioctl(fd(), KVM_GET_DEBUGREGS, &s.debugregs, "KVM_GET_DEBUGREGS", what);
  kvm_ioctl(fd(), KVM_GET_LAPIC, &s.lapic, "KVM_GET_LAPIC", what);
  s.tsc_khz = static_cast<uint32_t>(kvm_ioctl(fd(), KVM_GET_TSC_KHZ, 0ul, "KVM_GET_TSC_KHZ", what));
  s.cpuid = get_cpuid2(fd());

  // KVM_GET_MSRS stops at the first MSR this vCPU does not have (an Intel-only one on AMD, say):
  // keep what it read, skip that one, go on with the rest.
  std::vector<kvm_msr_entry> rest;
  for (uint32_t i : msr_indices) rest.push_back(kvm_msr_entry{.index = i, .reserved = 0, .data = 0});
  while (!rest.empty()) {
    int n = msr_ioctl(fd(), kKvmGetMsrs, rest, "KVM_GET_MSRS");
    for (int i = 0; i < n; ++i) {
      auto& dst = rest[static_cast<size_t>(i)].index == kMsrTscDeadline ? s.msrs_after_tsc : s.msrs;
      dst.push_back(rest[static_cast<size_t>(i)]);
    }
    rest.erase(rest.begin(), rest.begin() + std::min<size_t>(rest.size(), static_cast<size_t>(n) + 1));
  }
  kvm_ioctl(fd(), KVM_GET_VCPU_EVENTS, &s.events, "KVM_GET_VCPU_EVENTS", what);
  return s;
}

void Vcpu::restore_state(const VcpuState& s) {
  const std::string what = "vCPU " + std::to_string(index_);
  set_cpuid(s.cpuid);
  kvm_ioctl(fd(), KVM_SET_MP_STATE, &s.mp_state, "KVM_SET_MP_STATE", what);
  kvm_ioctl(fd(), KVM_SET_REGS, &s.regs, "KVM_SET_REGS", what);
  kvm_ioctl(fd(), KVM_SET_SREGS, &s.sregs, "KVM_SET_SREGS", what);
  kvm_ioctl(fd(), kKvmSetXsave, s.xsave.data(), "KVM_SET_XSAVE", what);
  kvm_ioctl(fd(), KVM_SET_XCRS, &s.xcrs, "KVM_SET_XCRS", what);
  kvm_ioctl(fd(), KVM_SET_DEBUGREGS, &s.debugregs, "KVM_SET_DEBUGREGS", what);
  kvm_ioctl(fd(), KVM_SET_LAPIC, &s.lapic, "KVM_SET_LAPIC", what);
  // The guest calibrated against this TSC frequency; KVM scales it where the host's differs
  // (and says so with an error where it cannot).
  if (s.tsc_khz && static_cast<uint32_t>(kvm_ioctl(fd(), KVM_GET_TSC_KHZ, 0ul, "KVM_GET_TSC_KHZ", what)) != s.tsc_khz)
    kvm_ioctl(fd(), KVM_SET_TSC_KHZ, static_cast<unsigned long>(s.tsc_khz), "KVM_SET_TSC_KHZ",
              what + " (the snapshot's TSC frequency)");
  set_msrs(fd(), s.msrs, index_);
  set_msrs(fd(), s.msrs_after_tsc, index_);
  kvm_ioctl(fd(), KVM_SET_VCPU_EVENTS, &s.events, "KVM_SET_VCPU_EVENTS", what);
}

void Vcpu::mark_clock_paused() {
  // EINVAL: the guest has not enabled kvmclock on this vCPU; nothing to tell it then.
  if (::ioctl(fd(), KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
    throw_errno("KVM_KVMCLOCK_CTRL", "vCPU " + std::to_string(index_));
}

uint64_t Vcpu::pre_fault(uint64_t gpa, uint64_t size) {
  KvmPreFaultMemory r{gpa, size, 0, {}};
  // The kernel advances gpa and shrinks size as it goes, returning early on a pending signal or
  // when it needs to reschedule: call again on what is left.
  while (r.size > 0) {
    if (::ioctl(fd(), kKvmPreFaultMemory, &r) == 0) continue;
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == EOPNOTSUPP) return size - r.size;
    throw_errno("KVM_PRE_FAULT_MEMORY",
                "vCPU " + std::to_string(index_) + ", " + std::to_string(r.size) + " bytes at guest " + std::to_string(r.gpa));
  }
  return size;
}

}  // namespace thaw::vmm
