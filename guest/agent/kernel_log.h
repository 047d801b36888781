#pragma once
// The guest kernel's log as a stream of records (/dev/kmsg), read from a mark onwards: how the
// agent learns that the kernel has done something it announces only there, such as reseeding
// its CRNG on a VM Generation ID change ("crng reseeded due to virtual machine fork"; Linux
// 6.1 sends no uevent for it).
#include <chrono>
#include <string_view>

#include "base/unique_fd.h"

namespace thaw::agent {

class KernelLog {
 public:
  // Opens /dev/kmsg; without it (not PID 1 of a guest) every wait returns false at once.
  KernelLog();
  // Later waits see only records logged after this call.
  void mark();
  // True once a record logged since mark() contains `text`; false after `timeout`.
  bool wait_for(std::string_view text, std::chrono::milliseconds timeout);

 private:
  UniqueFd fd_;
};

}  // namespace thaw::agent
