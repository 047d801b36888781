#pragma once
// The eventfds device workers wait on: a KVM ioeventfd for QueueNotify and a wake-up the host
// side signals. Non-blocking, so draining one never stalls a worker.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace thaw::vmm {

inline UniqueFd make_eventfd(const std::string& what) {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) throw_errno("eventfd", what);
  return fd;
}

inline void drain_eventfd(int fd) {
  uint64_t v;
  while (::read(fd, &v, sizeof v) == sizeof v) {
  }
}

inline void signal_eventfd(int fd) {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

}  // namespace thaw::vmm
