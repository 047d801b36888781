#pragma once
// One guest interrupt line (GSI of the in-kernel IOAPIC) driven through an irqfd: trigger()
// is a write to an eventfd that KVM turns into an edge on the pin, with no VMM round trip.
#include <linux/kvm.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "base/error.h"
#include "base/unique_fd.h"
#include "engine/vmm/kvm.h"

namespace thaw::vmm {

class IrqLine {
 public:
  IrqLine(int vm_fd, uint32_t gsi) : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!fd_) throw_errno("eventfd", "irqfd");
    kvm_irqfd req{};
    req.fd = static_cast<uint32_t>(fd_.get());
    req.gsi = gsi;
    kvm_ioctl(vm_fd, KVM_IRQFD, &req, "KVM_IRQFD", "GSI " + std::to_string(gsi));
  }
  void trigger() const {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
  }

 private:
  UniqueFd fd_;
};

}  // namespace thaw::vmm
