#include "engine/vmm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "base/error.h"

namespace thaw::vmm {

int kvm_ioctl(int fd, unsigned long request, const void* arg, std::string_view call, std::string_view what) {
  int r;
  do r = ::ioctl(fd, request, arg);
  while (r < 0 && errno == EINTR);
  if (r < 0) throw_errno(call, what);
  return r;
}

int kvm_ioctl(int fd, unsigned long request, unsigned long arg, std::string_view call, std::string_view what) {
  int r;
  do r = ::ioctl(fd, request, arg);
  while (r < 0 && errno == EINTR);
  if (r < 0) throw_errno(call, what);
  return r;
}

KvmBacking kvm_backing(const std::filesystem::path& sys_module) {
  std::error_code ec;
  auto loaded = [&](const char* m) { return std::filesystem::exists(sys_module / m, ec); };
  if (loaded("kvm_intel") || loaded("kvm_amd")) return KvmBacking::kHardware;
  if (loaded("kvm_pvm")) return KvmBacking::kPvm;
  return KvmBacking::kUnknown;
}

std::string kvm_backing_problem(KvmBacking b) {
  if (b != KvmBacking::kPvm) return {};
  return "this machine's /dev/kvm is PVM (kvm_pvm, no kvm_intel or kvm_amd: the CPU has no VMX or SVM), which "
         "runs only guest kernels built as PVM guests; the kernel thaw boots needs hardware virtualisation. "
         "Run with --kvm emulated (the emulated KVM host)";
}

Kvm Kvm::open(const char* path) {
  if (auto problem = kvm_backing_problem(kvm_backing()); !problem.empty()) throw Error(problem);
  Kvm k;
  k.fd_ = UniqueFd(::open(path, O_RDWR | O_CLOEXEC));
  if (!k.fd_) {
    if (errno == ENOENT)
      throw Error(std::string(path) + " does not exist: no KVM here (run with --kvm emulated, or load kvm-intel/kvm-amd)");
    throw_errno("open", path);
  }
  int version = kvm_ioctl(k.fd(), KVM_GET_API_VERSION, 0ul, "KVM_GET_API_VERSION", path);
  if (version != KVM_API_VERSION)
    throw Error("KVM API version " + std::to_string(version) + ", thaw needs " + std::to_string(KVM_API_VERSION));
  struct Need {
    long cap;
    const char* name;
  };
  static constexpr Need needs[] = {
      {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},     {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
      {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},             {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
      {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},         {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
      {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},         {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
      {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"}, {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
  };
  std::string missing;
  for (const Need& n : needs)
    if (k.check_extension(n.cap) <= 0) missing += std::string(missing.empty() ? "" : ", ") + n.name;
  if (!missing.empty()) throw Error("this KVM lacks capabilities thaw needs: " + missing);
  return k;
}

int Kvm::check_extension(long cap) const {
  return kvm_ioctl(fd(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(cap), "KVM_CHECK_EXTENSION");
}

size_t Kvm::vcpu_mmap_size() const {
  return static_cast<size_t>(kvm_ioctl(fd(), KVM_GET_VCPU_MMAP_SIZE, 0ul, "KVM_GET_VCPU_MMAP_SIZE"));
}

std::vector<uint32_t> Kvm::msr_index_list() const {
  KvmMsrListHeader probe{0};
  if (::ioctl(fd(), kKvmGetMsrIndexList, &probe) < 0 && errno != E2BIG) throw_errno("KVM_GET_MSR_INDEX_LIST");
  std::vector<uint32_t> buf(probe.nmsrs + 1);
  buf[0] = probe.nmsrs;
  kvm_ioctl(fd(), kKvmGetMsrIndexList, buf.data(), "KVM_GET_MSR_INDEX_LIST");
  return {buf.begin() + 1, buf.begin() + 1 + buf[0]};
}

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const {
  for (uint32_t n = 128; n <= 4096; n *= 2) {
    std::vector<uint64_t> storage((sizeof(KvmCpuidHeader) + n * sizeof(kvm_cpuid_entry2)) / 8 + 1);
    auto* c = reinterpret_cast<KvmCpuidHeader*>(storage.data());
    c->nent = n;
    if (::ioctl(fd(), kKvmGetSupportedCpuid, c) < 0) {
      if (errno == E2BIG || errno == EINTR) continue;
      throw_errno("KVM_GET_SUPPORTED_CPUID");
    }
    auto* entries = reinterpret_cast<const kvm_cpuid_entry2*>(c + 1);
    return {entries, entries + c->nent};
  }
  throw Error("KVM_GET_SUPPORTED_CPUID: too many entries");
}

}  // namespace thaw::vmm
