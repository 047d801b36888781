#include "memory/userfaultfd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/error.h"
#include "base/log.h"

// Linux 6.6 added UFFDIO_POISON; the installed UAPI headers may predate it.
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
  struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
  __u64 mode;
  __s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

namespace thaw::memory {
namespace {

UniqueFd open_raw() {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd >= 0) return UniqueFd(fd);
  int syscall_errno = errno;
  // Without CAP_SYS_PTRACE and with vm.unprivileged_userfaultfd=0 the syscall refuses
  // kernel-mode faults; /dev/userfaultfd is the sanctioned way around that.
  UniqueFd dev(::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
  if (dev) {
    fd = ::ioctl(dev.get(), USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) return UniqueFd(fd);
  }
  throw SystemError("userfaultfd", "kernel-mode faults; also tried /dev/userfaultfd", syscall_errno);
}

uint64_t supported_features() {
  UniqueFd probe = open_raw();
  uffdio_api api{};
  api.api = UFFD_API;
  if (::ioctl(probe.get(), UFFDIO_API, &api) < 0) throw_errno("ioctl(UFFDIO_API)", "probe");
  return api.features;
}

Userfaultfd::Result ioctl_result(long long reported, int err) {
  Userfaultfd::Result r;
  r.bytes = reported > 0 ? static_cast<size_t>(reported) : 0;
  r.error = err;
  return r;
}

}  // namespace

Userfaultfd Userfaultfd::open() {
  // UFFDIO_API may be called once per descriptor, so features are probed on a throwaway one.
  uint64_t available = supported_features();
  uint64_t wanted = UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MISSING_HUGETLBFS;
  if ((available & UFFD_FEATURE_EVENT_REMOVE) == 0)
    throw Error("userfaultfd: this kernel lacks UFFD_FEATURE_EVENT_REMOVE");
  bool poison = (available & UFFD_FEATURE_POISON) != 0;
  if (poison) wanted |= UFFD_FEATURE_POISON;
  wanted |= UFFD_FEATURE_MINOR_SHMEM;

  Userfaultfd u;
  u.fd_ = open_raw();
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = wanted & available;
  if (::ioctl(u.fd(), UFFDIO_API, &api) < 0) throw_errno("ioctl(UFFDIO_API)");
  u.has_poison_ = poison && (api.ioctls & (1ULL << _UFFDIO_POISON)) != 0;
  u.has_minor_shmem_ = (api.features & UFFD_FEATURE_MINOR_SHMEM) != 0;
  if (!u.has_poison_)
    spdlog::debug("userfaultfd: no UFFDIO_POISON on this kernel; failed pages are made inaccessible instead");
  return u;
}

void Userfaultfd::register_missing(void* addr, size_t len) {
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uintptr_t>(addr);
  reg.range.len = len;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  if (::ioctl(fd(), UFFDIO_REGISTER, &reg) < 0)
    throw_errno("ioctl(UFFDIO_REGISTER)", std::to_string(len) + " bytes");
  uint64_t needed = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_WAKE);
  if ((reg.ioctls & needed) != needed) {
    unregister(addr, len);
    throw Error("userfaultfd: the kernel cannot UFFDIO_COPY into this memory type");
  }
  if (has_poison_ && (reg.ioctls & (1ULL << _UFFDIO_POISON)) == 0) has_poison_ = false;
}

void Userfaultfd::register_missing_and_minor(void* addr, size_t len) {
  if (!has_minor_shmem_) throw Error("userfaultfd: this kernel has no minor faults for shared memory (Linux 5.14+)");
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uintptr_t>(addr);
  reg.range.len = len;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR;
  if (::ioctl(fd(), UFFDIO_REGISTER, &reg) < 0)
    throw_errno("ioctl(UFFDIO_REGISTER, MISSING|MINOR)", std::to_string(len) + " bytes");
  uint64_t needed = (1ULL << _UFFDIO_CONTINUE) | (1ULL << _UFFDIO_ZEROPAGE) | (1ULL << _UFFDIO_WAKE);
  if ((reg.ioctls & needed) != needed) {
    unregister(addr, len);
    throw Error("userfaultfd: the kernel cannot UFFDIO_CONTINUE into this memory");
  }
  if (has_poison_ && (reg.ioctls & (1ULL << _UFFDIO_POISON)) == 0) has_poison_ = false;
}

void Userfaultfd::unregister(void* addr, size_t len) noexcept {
  uffdio_range range{reinterpret_cast<uintptr_t>(addr), len};
  ::ioctl(fd(), UFFDIO_UNREGISTER, &range);
}

Userfaultfd::Result Userfaultfd::copy(void* dst, const void* src, size_t len, bool wake) {
  uffdio_copy c{};
  c.dst = reinterpret_cast<uintptr_t>(dst);
  c.src = reinterpret_cast<uintptr_t>(src);
  c.len = len;
  c.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE;
  if (::ioctl(fd(), UFFDIO_COPY, &c) == 0) return {len, 0};
  int err = errno;
  if (err == EEXIST || err == EAGAIN || err == ENOENT || err == ESRCH) return ioctl_result(c.copy, err);
  throw SystemError("ioctl(UFFDIO_COPY)", std::to_string(len) + " bytes", err);
}

Userfaultfd::Result Userfaultfd::zeropage(void* dst, size_t len, bool wake) {
  uffdio_zeropage z{};
  z.range.start = reinterpret_cast<uintptr_t>(dst);
  z.range.len = len;
  z.mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE;
  if (::ioctl(fd(), UFFDIO_ZEROPAGE, &z) == 0) return {len, 0};
  int err = errno;
  if (err == EEXIST || err == EAGAIN || err == ENOENT || err == ESRCH) return ioctl_result(z.zeropage, err);
  throw SystemError("ioctl(UFFDIO_ZEROPAGE)", std::to_string(len) + " bytes", err);
}

Userfaultfd::Result Userfaultfd::continue_mapping(void* dst, size_t len, bool wake) {
  uffdio_continue c{};
  c.range.start = reinterpret_cast<uintptr_t>(dst);
  c.range.len = len;
  c.mode = wake ? 0 : UFFDIO_CONTINUE_MODE_DONTWAKE;
  if (::ioctl(fd(), UFFDIO_CONTINUE, &c) == 0) return {len, 0};
  int err = errno;
  if (err == EEXIST || err == EAGAIN || err == ENOENT || err == ESRCH || err == EFAULT)
    return ioctl_result(c.mapped, err);
  throw SystemError("ioctl(UFFDIO_CONTINUE)", std::to_string(len) + " bytes", err);
}

Userfaultfd::Result Userfaultfd::poison(void* dst, size_t len, bool wake) {
  uffdio_poison p{};
  p.range.start = reinterpret_cast<uintptr_t>(dst);
  p.range.len = len;
  p.mode = wake ? 0 : UFFDIO_POISON_MODE_DONTWAKE;
  if (::ioctl(fd(), UFFDIO_POISON, &p) == 0) return {len, 0};
  int err = errno;
  if (err == EEXIST || err == EAGAIN || err == ENOENT || err == ESRCH) return ioctl_result(p.updated, err);
  throw SystemError("ioctl(UFFDIO_POISON)", std::to_string(len) + " bytes", err);
}

void Userfaultfd::wake(void* addr, size_t len) {
  uffdio_range range{reinterpret_cast<uintptr_t>(addr), len};
  if (::ioctl(fd(), UFFDIO_WAKE, &range) < 0) throw_errno("ioctl(UFFDIO_WAKE)", std::to_string(len) + " bytes");
}

}  // namespace thaw::memory
