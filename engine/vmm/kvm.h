#pragma once
// /dev/kvm: opening it, checking the API version and the capabilities thaw relies on, and the
// host's supported CPUID. Missing pieces are reported by name (thaw::Error).
#include <linux/kvm.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace thaw::vmm {

// <linux/kvm.h> declares kvm_cpuid2 and kvm_msrs with __DECLARE_FLEX_ARRAY, whose empty struct
// has size 1 in C++: their entries move (to offset 12 / 16) and the ioctl numbers built from
// sizeof() change, so KVM answers EINVAL. thaw uses the kernel's real layout: an 8-byte header
// followed by the entries, and ioctl numbers built from that header.
struct KvmCpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
struct KvmMsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
inline constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, KvmCpuidHeader);
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmCpuidHeader);
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmMsrsHeader);
inline constexpr unsigned long kKvmGetMsrs = _IOWR(KVMIO, 0x88, KvmMsrsHeader);
inline constexpr unsigned long kKvmGetCpuid2 = _IOWR(KVMIO, 0x91, KvmCpuidHeader);
struct KvmMsrListHeader {
  uint32_t nmsrs;
};
inline constexpr unsigned long kKvmGetMsrIndexList = _IOWR(KVMIO, 0x02, KvmMsrListHeader);
// kvm_xsave likewise ends in a flexible array: its fixed part is the 4 KiB legacy area.
struct KvmXsaveFixed {
  uint32_t region[1024];
};
inline constexpr unsigned long kKvmGetXsave = _IOR(KVMIO, 0xa4, KvmXsaveFixed);
inline constexpr unsigned long kKvmSetXsave = _IOW(KVMIO, 0xa5, KvmXsaveFixed);
inline constexpr unsigned long kKvmGetXsave2 = _IOR(KVMIO, 0xcf, KvmXsaveFixed);

// What provides /dev/kvm, read from the loaded modules (a vendor module registers /dev/kvm,
// the core kvm module alone does not). PVM (kvm_pvm) is a KVM for machines without VMX or SVM:
// it runs only guest kernels built as PVM guests, and an ordinary kernel such as Debian's,
// the one thaw boots, hangs under it without a word on its console. So /dev/kvm alone does
// not say that thaw can run here.
enum class KvmBacking {
  kHardware,  // kvm_intel or kvm_amd
  kPvm,       // kvm_pvm only
  kUnknown,   // none of these: no KVM, or one thaw does not know
};
KvmBacking kvm_backing(const std::filesystem::path& sys_module = "/sys/module");
// Why thaw's guests cannot run on a KVM with this backing (empty for hardware and unknown).
std::string kvm_backing_problem(KvmBacking b);

class Kvm {
 public:
  static constexpr long kCapPreFaultMemory = 236;  // KVM_CAP_PRE_FAULT_MEMORY (6.11's headers)

  // Opens /dev/kvm and checks that it is hardware-backed (kvm_backing), API version 12 and every
  // capability the microVM needs.
  static Kvm open(const char* path = "/dev/kvm");

  int fd() const { return fd_.get(); }
  int check_extension(long cap) const;
  size_t vcpu_mmap_size() const;
  std::vector<kvm_cpuid_entry2> supported_cpuid() const;
  bool has_tsc_deadline_timer() const { return check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0; }
  // KVM_PRE_FAULT_MEMORY works here (Linux 6.11+, with nested or extended page tables).
  bool has_pre_fault_memory() const { return check_extension(kCapPreFaultMemory) > 0; }
  // Every MSR KVM can save and restore for a vCPU (KVM_GET_MSR_INDEX_LIST).
  std::vector<uint32_t> msr_index_list() const;

 private:
  UniqueFd fd_;
};

// ioctl() that retries on EINTR and throws SystemError naming `call` and `what` on failure.
int kvm_ioctl(int fd, unsigned long request, const void* arg, std::string_view call, std::string_view what = {});
int kvm_ioctl(int fd, unsigned long request, unsigned long arg, std::string_view call, std::string_view what = {});

}  // namespace thaw::vmm
